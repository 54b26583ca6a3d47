/** Choosing the accelerator: KVM when asked for or available, TCG otherwise. */
import { VigilError } from '../../core/errors.js';

/** The accelerator to start with; `auto` means KVM when the host offers it, else TCG. Throws when `kvm` is demanded but unusable. */
export function resolveAccel(requested: 'kvm' | 'tcg' | 'auto', host: { kvmUsable: boolean }): 'kvm' | 'tcg' {
  if (requested === 'tcg') return 'tcg';
  if (host.kvmUsable) return 'kvm';
  if (requested === 'auto') return 'tcg';
  throw new VigilError('VIGIL_INVALID_INPUT', 'accel: kvm was asked for, but /dev/kvm is not usable here (missing, or no permission); set accel: auto or tcg', {
    context: { field: 'accel', requested },
  });
}

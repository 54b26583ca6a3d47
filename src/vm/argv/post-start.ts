/**
 * What the supervisor does over QMP after QEMU has started paused and before it sends `cont`: state that has no
 * command-line form, such as a NIC whose link starts down.
 */
import type { VmDefinition } from '../definition/schema.js';
import { withDefaultIds } from './ids.js';

/** One QMP command to run before the VM is resumed. */
export interface PostStartAction {
  command: string;
  args: Record<string, unknown>;
}

/** The QMP commands to run, in order, between start (paused) and `cont`. */
export function postStartActions(def: VmDefinition): PostStartAction[] {
  // set_link takes the NIC device's id; a VF's link is the host's business (the schema refuses link: down there).
  return withDefaultIds(def)
    .nics.filter((n) => n.link === 'down' && n.type !== 'vf')
    .map((n) => ({ command: 'set_link', args: { name: n.id, up: false } }));
}

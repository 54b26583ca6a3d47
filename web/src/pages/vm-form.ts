/**
 * The VM form: writes a JSON definition for POST /vms. The API validates it; each problem in its 400 names the
 * field (`request body: cpus: ...`), and is shown on that field (aria-invalid + aria-describedby), the rest above
 * the form.
 */
import { api, ApiError, type VmView } from '../api.js';
import type { Page } from '../context.js';
import { h, replace } from '../dom.js';

interface Field {
  /** The definition path the API names in its errors. */
  path: string;
  label: string;
  input: HTMLInputElement | HTMLSelectElement;
  help?: string;
}

function text(id: string, attrs: Record<string, string | boolean> = {}): HTMLInputElement {
  return h('input', { id, name: id, type: 'text', spellcheck: 'false', ...attrs });
}

/** `request body: boot.kernel: must be absolute` -> ['boot.kernel', 'must be absolute']. */
export function problemsOf(message: string): { path: string; message: string }[] {
  return message
    .split('\n')
    .map((line) => /^(?:request body)(?::\d+:\d+)?: ([^:]+): (.*)$/.exec(line.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ path: m[1]!.trim(), message: m[2]!.trim() }));
}

/** #/new */
export const vmFormPage: Page = (main) => {
  const fields: Field[] = [
    { path: 'name', label: 'Name', input: text('f-name', { required: true, autocomplete: 'off' }), help: 'Letters, digits, "_", "." or "-".' },
    { path: 'cpus', label: 'vCPUs', input: h('input', { id: 'f-cpus', name: 'cpus', type: 'number', min: '1', max: '512', value: '1' }) },
    { path: 'memory', label: 'Memory', input: text('f-memory', { value: '512M' }), help: 'e.g. 512M or 2G; a bare number is MiB.' },
    { path: 'description', label: 'Description', input: text('f-description') },
    { path: 'tags', label: 'Tags', input: text('f-tags'), help: 'Comma-separated.' },
    { path: 'accel', label: 'Accelerator', input: h('select', { id: 'f-accel', name: 'accel' }, ...['auto', 'kvm', 'tcg'].map((a) => h('option', { value: a }, a))) },
    { path: 'boot.kernel', label: 'Kernel (direct boot)', input: text('f-kernel', { placeholder: '/path/to/vmlinuz' }), help: 'Absolute path on the host; leave empty to boot from a disk.' },
    { path: 'boot.initrd', label: 'Initrd', input: text('f-initrd') },
    { path: 'boot.cmdline', label: 'Kernel command line', input: text('f-cmdline', { value: 'console=ttyS0' }) },
    { path: 'disks.0.file', label: 'Disk image', input: text('f-disk', { placeholder: '/var/lib/vigil/images/disk.qcow2' }), help: 'Absolute path of a qcow2 or raw image (optional).' },
  ];
  const autostart = h('input', { id: 'f-autostart', name: 'autostart', type: 'checkbox' });
  const userNic = h('input', { id: 'f-nic', name: 'nic', type: 'checkbox', checked: true });
  const formError = h('div', { id: 'form-error', role: 'alert' });

  const value = (path: string): string => fields.find((f) => f.path === path)!.input.value.trim();
  const definition = (): Record<string, unknown> => {
    const def: Record<string, unknown> = { name: value('name'), memory: value('memory'), cpus: Number(value('cpus')), accel: value('accel') };
    if (value('description')) def.description = value('description');
    const tags = value('tags').split(',').map((t) => t.trim()).filter(Boolean);
    if (tags.length) def.tags = tags;
    if (value('boot.kernel') || value('boot.initrd')) {
      def.boot = { kernel: value('boot.kernel'), ...(value('boot.initrd') ? { initrd: value('boot.initrd') } : {}), ...(value('boot.cmdline') ? { cmdline: value('boot.cmdline') } : {}) };
    }
    if (value('disks.0.file')) def.disks = [{ file: value('disks.0.file') }];
    if (userNic.checked) def.nics = [{ type: 'user' }];
    if (autostart.checked) def.autostart = { enabled: true };
    return def;
  };
  const clearErrors = (): void => {
    formError.replaceChildren();
    for (const f of fields) {
      f.input.removeAttribute('aria-invalid');
      const err = document.getElementById(`${f.input.id}-error`);
      if (err) err.textContent = '';
    }
  };
  const showErrors = (err: ApiError): void => {
    const problems = problemsOf(err.message);
    const unplaced: string[] = [];
    for (const p of problems) {
      // The most specific field whose path is the problem's or a parent of it (boot -> boot.kernel).
      const f = fields.find((x) => x.path === p.path) ?? fields.find((x) => x.path.startsWith(`${p.path}.`)) ?? fields.find((x) => p.path.startsWith(`${x.path}.`));
      if (!f) {
        unplaced.push(`${p.path}: ${p.message}`);
        continue;
      }
      f.input.setAttribute('aria-invalid', 'true');
      const slot = document.getElementById(`${f.input.id}-error`)!;
      slot.textContent = slot.textContent ? `${slot.textContent}; ${p.message}` : p.message;
    }
    if (problems.length === 0) unplaced.push(err.message);
    if (unplaced.length) replace(formError, h('p', { class: 'flash error' }, unplaced.join('\n')));
    const first = fields.find((f) => f.input.getAttribute('aria-invalid') === 'true');
    first?.input.focus();
  };

  const form = h(
    'form',
    {
      id: 'vm-form',
      class: 'card form',
      novalidate: true,
      onsubmit: (e: Event) => {
        e.preventDefault();
        clearErrors();
        void api<VmView>('POST', '/vms', definition())
          .then((vm) => (location.hash = `#/vms/${encodeURIComponent(vm.id)}`))
          .catch((err: unknown) => {
            if (err instanceof ApiError) showErrors(err);
            else replace(formError, h('p', { class: 'flash error' }, String(err)));
          });
      },
    },
    ...fields.map((f) => {
      const describedBy = [`${f.input.id}-error`, f.help ? `${f.input.id}-help` : ''].filter(Boolean).join(' ');
      f.input.setAttribute('aria-describedby', describedBy);
      f.input.setAttribute('data-field', f.path);
      return h(
        'div',
        { class: 'field' },
        h('label', { for: f.input.id }, f.label),
        f.input,
        f.help ? h('span', { class: 'help', id: `${f.input.id}-help` }, f.help) : null,
        h('span', { class: 'field-error', id: `${f.input.id}-error` }),
      );
    }),
    h('div', { class: 'field check' }, userNic, h('label', { for: 'f-nic' }, 'User-mode network (NAT)')),
    h('div', { class: 'field check' }, autostart, h('label', { for: 'f-autostart' }, 'Start with vigild (autostart)')),
    h('button', { type: 'submit', class: 'primary', id: 'f-submit' }, 'Define VM'),
  );
  replace(main, h('p', {}, h('a', { href: '#/vms' }, '← VMs')), h('h1', {}, 'New VM'), formError, form);
};

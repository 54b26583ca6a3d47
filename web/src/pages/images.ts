/**
 * Disk images in the host's images directory (GET/POST/DELETE /images, POST /images/:name/convert): format,
 * sizes, backing chain and who uses them; a create form and a convert form; delete after a confirmation. The
 * API decides who may do what (create and convert: Manager on some VM or host admin; delete: Owner of every VM
 * naming it); its refusals are shown as it gives them.
 */
import { api, ApiError } from '../api.js';
import type { Page } from '../context.js';
import { flash, h, replace } from '../dom.js';

interface Image {
  name: string;
  format?: string;
  virtualSize?: number;
  actualSize?: number;
  backingFile?: string;
  backingChain: { file: string; format?: string }[];
  usedBy: string[];
  definedIn: string[];
  error?: string;
}

/** Bytes as people read them (powers of 1024). */
export function formatBytes(n: number | undefined): string {
  if (n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v >= 10 ? 0 : 1)} ${units[i]!}`;
}

function field(id: string, label: string, control: HTMLElement, help?: string): HTMLElement {
  return h('div', {}, h('label', { for: id }, label), control, help ? h('span', { class: 'help', id: `${id}-help` }, help) : null);
}

/** #/images */
export const imagesPage: Page = async (main) => {
  const body = h('tbody', {});
  const dirLine = h('p', { class: 'help', id: 'images-dir' });
  const status = h('p', { id: 'images-status', role: 'status', 'aria-live': 'polite', class: 'help' });
  let images: Image[] = [];

  const backingSelect = h('select', { id: 'img-backing' });
  const convertSource = h('select', { id: 'cv-source', required: true });

  const load = async (): Promise<void> => {
    const res = await api<{ dir: string; images: Image[] }>('GET', '/images');
    images = res.images;
    dirLine.textContent = `Directory: ${res.dir}`;
    replace(
      body,
      ...(images.length === 0
        ? [h('tr', {}, h('td', { colspan: 7 }, 'No images yet.'))]
        : images.map((img) =>
            h(
              'tr',
              { 'data-image': img.name },
              h('th', { scope: 'row', 'data-label': 'Name', class: 'mono' }, img.name),
              h('td', { 'data-label': 'Format' }, img.format ?? (img.error ? 'unreadable' : '—')),
              h('td', { 'data-label': 'Virtual size' }, formatBytes(img.virtualSize)),
              h('td', { 'data-label': 'On disk' }, formatBytes(img.actualSize)),
              h(
                'td',
                { 'data-label': 'Backing chain', class: 'mono' },
                img.backingChain.length === 0 ? '—' : img.backingChain.map((b) => `${b.file}${b.format ? ` (${b.format})` : ''}`).join(' → '),
                img.error ? h('span', { class: 'field-error' }, img.error) : null,
              ),
              h(
                'td',
                { 'data-label': 'In use', class: 'in-use' },
                img.usedBy.length > 0 ? h('span', { class: 'badge ok' }, `running: ${img.usedBy.join(', ')}`) : null,
                img.definedIn.length > 0 ? h('span', { class: 'help' }, `defined in: ${img.definedIn.join(', ')}`) : null,
                img.usedBy.length === 0 && img.definedIn.length === 0 ? 'no' : null,
              ),
              h(
                'td',
                {},
                h(
                  'button',
                  {
                    type: 'button',
                    class: 'danger',
                    'data-delete': img.name,
                    'aria-label': `Delete image ${img.name}`,
                    disabled: img.usedBy.length > 0,
                    title: img.usedBy.length > 0 ? 'a running VM uses it' : undefined,
                    onclick: () => void remove(img),
                  },
                  'Delete',
                ),
              ),
            ),
          )),
    );
    const options = (sel: HTMLSelectElement, none?: string): void => {
      const keep = sel.value;
      replace(sel, none !== undefined ? h('option', { value: '' }, none) : null, ...images.map((i) => h('option', { value: i.name }, i.name)));
      sel.value = images.some((i) => i.name === keep) ? keep : (sel.options[0]?.value ?? '');
    };
    options(backingSelect, 'none');
    options(convertSource);
  };

  const remove = async (img: Image): Promise<void> => {
    const users = img.definedIn.length > 0 ? ` VM definitions name it (${img.definedIn.join(', ')}); they will fail to start.` : '';
    if (!confirm(`Delete image '${img.name}'? Its file is removed for good.${users}`)) return;
    try {
      await api('DELETE', `/images/${encodeURIComponent(img.name)}`);
      flash(`Image '${img.name}' deleted.`, 'info');
      await load();
    } catch (err) {
      flash(err instanceof Error ? `Delete failed: ${err.message}` : String(err));
    }
  };

  // Create: name, format, size (or a backing image, whose size a qcow2 overlay takes).
  const name = h('input', { id: 'img-name', required: true, spellcheck: 'false', placeholder: 'web.qcow2', 'aria-describedby': 'img-name-help' });
  const format = h('select', { id: 'img-format' }, h('option', { value: 'qcow2' }, 'qcow2'), h('option', { value: 'raw' }, 'raw'));
  const size = h('input', { id: 'img-size', spellcheck: 'false', placeholder: '10G', 'aria-describedby': 'img-size-help' });
  const createError = h('p', { class: 'field-error', id: 'img-error', role: 'alert' });
  const createForm = h(
    'form',
    {
      id: 'image-form',
      class: 'filters',
      onsubmit: (e: Event) => {
        e.preventDefault();
        createError.textContent = '';
        const body: Record<string, string> = { name: name.value.trim(), format: format.value };
        if (size.value.trim()) body.size = size.value.trim();
        if (backingSelect.value) body.backing = backingSelect.value;
        status.textContent = `Creating ${body.name}…`;
        void api<Image>('POST', '/images', body)
          .then(async (img) => {
            status.textContent = `Created ${img.name}.`;
            name.value = '';
            size.value = '';
            await load();
          })
          .catch((err: unknown) => {
            status.textContent = '';
            createError.textContent = err instanceof ApiError ? err.message : String(err);
          });
      },
    },
    field('img-name', 'Image name', name, 'A file name in the images directory (no /).'),
    field('img-format', 'Format', format),
    field('img-size', 'Size', size, 'e.g. 10G or 512M; leave empty with a backing image.'),
    field('img-backing', 'Backing image (qcow2 only)', backingSelect),
    h('div', {}, h('button', { type: 'submit', class: 'primary' }, 'Create image')),
  );

  const dst = h('input', { id: 'cv-dst', required: true, spellcheck: 'false', placeholder: 'web.raw' });
  const dstFormat = h('select', { id: 'cv-format' }, h('option', { value: 'raw' }, 'raw'), h('option', { value: 'qcow2' }, 'qcow2'));
  const convertError = h('p', { class: 'field-error', id: 'cv-error', role: 'alert' });
  const convertForm = h(
    'form',
    {
      id: 'convert-form',
      class: 'filters',
      onsubmit: (e: Event) => {
        e.preventDefault();
        convertError.textContent = '';
        status.textContent = `Converting ${convertSource.value}…`;
        void api<Image>('POST', `/images/${encodeURIComponent(convertSource.value)}/convert`, { dst: dst.value.trim(), format: dstFormat.value })
          .then(async (img) => {
            status.textContent = `Converted into ${img.name}.`;
            dst.value = '';
            await load();
          })
          .catch((err: unknown) => {
            status.textContent = '';
            convertError.textContent = err instanceof ApiError ? err.message : String(err);
          });
      },
    },
    field('cv-source', 'Source image', convertSource),
    field('cv-dst', 'New image name', dst),
    field('cv-format', 'New format', dstFormat),
    h('div', {}, h('button', { type: 'submit' }, 'Convert')),
  );

  replace(
    main,
    h('div', { class: 'title-row' }, h('h1', {}, 'Disk images'), h('button', { type: 'button', id: 'images-refresh', onclick: () => void load().catch((err: unknown) => flash(String((err as Error).message))) }, 'Refresh')),
    dirLine,
    status,
    h(
      'div',
      { class: 'table-wrap card-gap' },
      h(
        'table',
        { class: 'list', id: 'images-table' },
        h('caption', { class: 'sr-only' }, 'Disk images'),
        h('thead', {}, h('tr', {}, ...['Name', 'Format', 'Virtual size', 'On disk', 'Backing chain', 'In use', ''].map((c) => h('th', { scope: 'col' }, c || h('span', { class: 'sr-only' }, 'Actions'))))),
        body,
      ),
    ),
    h('section', { class: 'card', 'aria-labelledby': 'img-create-h' }, h('h2', { id: 'img-create-h' }, 'New image'), createForm, createError),
    h('section', { class: 'card', 'aria-labelledby': 'img-convert-h' }, h('h2', { id: 'img-convert-h' }, 'Convert an image'), convertForm, convertError),
  );
  await load();
};

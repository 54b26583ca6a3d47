/**
 * The block node each guest disk uses right now. At start disk N is `blk<N>-format`, but after an external
 * snapshot the device writes to the new overlay's node, so QEMU is asked (`query-block`) rather than assumed.
 */
import { VigilError } from '../../core/errors.js';
import type { QmpChannel } from '../../qmp/types.js';

interface BlockInfo {
  device?: string;
  qdev?: string;
  inserted?: { 'node-name'?: string };
}

/** Maps each disk id to its current top node name. */
export async function liveTopNodes(qmp: QmpChannel, diskIds: readonly string[]): Promise<Map<string, string>> {
  const blocks = await qmp.execute<BlockInfo[]>('query-block');
  const out = new Map<string, string>();
  for (const id of diskIds) {
    const re = new RegExp(`^/machine/peripheral/${id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(/|$)`);
    const b = blocks.find((x) => x.qdev === id || re.test(x.qdev ?? ''));
    const node = b?.inserted?.['node-name'];
    if (node === undefined) throw new VigilError('VIGIL_SNAPSHOT', `QEMU reports no block node for disk '${id}'`, { context: { disk: id } });
    out.set(id, node);
  }
  return out;
}

/** The serial console: xterm.js over the /vms/:id/console WebSocket (session cookie), bytes both ways. */
import { Terminal } from '@xterm/xterm';
import '@xterm/xterm/css/xterm.css';
import { h } from './dom.js';

/** Opens the console of `vm` in `box`; returns the function that closes it. */
export function openConsole(box: HTMLElement, vm: string): () => void {
  const term = new Terminal({ convertEol: false, cursorBlink: true, rows: 24, cols: 80, scrollback: 2000, screenReaderMode: true });
  const status = h('p', { class: 'help', role: 'status', id: 'console-status' }, 'Connecting…');
  const host = h('div', { class: 'term', 'aria-label': `Serial console of ${vm}` });
  box.replaceChildren(status, host);
  term.open(host);
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/vms/${encodeURIComponent(vm)}/console`);
  ws.binaryType = 'arraybuffer';
  const encoder = new TextEncoder();
  ws.onopen = () => {
    status.textContent = 'Connected. Keys typed in the terminal go to the VM.';
    term.focus();
  };
  ws.onmessage = (m: MessageEvent<ArrayBuffer | string>) => term.write(typeof m.data === 'string' ? m.data : new Uint8Array(m.data));
  ws.onclose = (e) => {
    status.textContent = `Disconnected${e.reason ? `: ${e.reason}` : e.code === 1006 ? ' (refused: is the VM running, and are you Operator or above?)' : ''}.`;
  };
  const input = term.onData((d) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(encoder.encode(d));
  });
  return () => {
    input.dispose();
    ws.close();
    term.dispose();
  };
}

/** The progress lines `qemu-img convert -p` writes: `    (12.34/100%)` separated by carriage returns. */

/** Feeds chunks of qemu-img's output and reports each new percentage; chunks may split a report anywhere. */
export class ProgressParser {
  private tail = '';
  private last = -1;

  constructor(private readonly onPercent: (percent: number) => void) {}

  /** Takes the next chunk of output. */
  push(chunk: string): void {
    const text = this.tail + chunk;
    const re = /\((\d+(?:\.\d+)?)\/100%\)/g;
    let end = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      end = re.lastIndex;
      const p = Number(m[1]);
      if (p !== this.last) {
        this.last = p;
        this.onPercent(p);
      }
    }
    // Keep only what may be the start of a report cut in two.
    const rest = text.slice(end);
    const open = rest.lastIndexOf('(');
    this.tail = open === -1 ? '' : rest.slice(open).slice(0, 32);
  }
}

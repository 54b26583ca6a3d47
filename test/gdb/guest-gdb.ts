/** The guest the gdbstub tests share: two vCPUs, and an init that prints the address of jiffies from kallsyms. */
import { defaultInitScript } from '../../guest/init-script.js';
import { bootGuest, type Guest } from '../../guest/launch.js';

/** Boots the test guest with two vCPUs and waits for the jiffies line. */
export async function bootGdbGuest(): Promise<{ guest: Guest; jiffies: bigint }> {
  const body = `echo "JIFFIES=$(grep -E ' [dD] jiffies$' /proc/kallsyms | cut -d' ' -f1)" >/dev/console`;
  const guest = await bootGuest({ initScript: defaultInitScript(body), extraArgs: ['-smp', '2'], memoryMiB: 160 });
  const line = await guest.waitForSerial(/JIFFIES=[0-9a-f]{16}/);
  const hex = /JIFFIES=([0-9a-f]{16})/.exec(line)?.[1] ?? '0';
  return { guest, jiffies: BigInt(`0x${hex}`) };
}

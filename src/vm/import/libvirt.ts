/**
 * `vigil import libvirt`: a libvirt domain (`virsh dumpxml` output) -> a Vigil VM definition the user can save
 * and edit, plus the list of everything that could not be carried over, each with its location and why.
 * Runtime state a running domain prints (ids, aliases, pty paths, vnet names) is dropped silently, and so are
 * settings that are already Vigil's defaults; everything else is either mapped or listed.
 */
import { Document } from 'yaml';
import { VigilError } from '../../core/errors.js';
import { vmDefinitionSchema, type VmDefinitionInput } from '../definition/schema.js';
import { mapDevices } from './libvirt-devices.js';
import { SkipLog, type Leftover } from './skip-log.js';
import { parseTrackedXml, type SkippedEntry, type TrackedElement } from './xml-tree.js';

export type { SkippedEntry } from './xml-tree.js';

/** The result of an import: the definition, its YAML text (with the skipped list as comments) and the list. */
export interface LibvirtImport {
  definition: VmDefinitionInput;
  yaml: string;
  skipped: SkippedEntry[];
}

type FirmwareInput = NonNullable<VmDefinitionInput['firmware']>;
type BootInput = NonNullable<VmDefinitionInput['boot']>;
type RestartPolicy = 'no' | 'on-failure' | 'always';

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;

// libvirt's scaled-integer units (case-insensitive): k/KiB are powers of 1024, KB/MB/... powers of 1000.
const UNITS: Record<string, number> = {
  b: 1,
  bytes: 1,
  k: 2 ** 10,
  kib: 2 ** 10,
  kb: 1e3,
  m: 2 ** 20,
  mib: 2 ** 20,
  mb: 1e6,
  g: 2 ** 30,
  gib: 2 ** 30,
  gb: 1e9,
  t: 2 ** 40,
  tib: 2 ** 40,
  tb: 1e12,
};

/** Why an element nobody mapped is not carried over, by name or by `parent/name` (`parent/*` for any child). */
const REASONS: Record<string, string> = {
  uuid: 'Vigil has no UUID setting: the SMBIOS system UUID the guest sees will change (cloud-init instance ids and Windows activation may notice)',
  genid: 'the VM generation ID is not carried over',
  metadata: 'application metadata (libosinfo, virt-manager) has no place in a Vigil definition',
  maxMemory: 'memory hotplug (maxMemory) is not offered: the VM gets `memory` at boot',
  memoryBacking: 'memory backing (hugepages, locked, shared memfd) is not carried over: Vigil backs guest RAM itself',
  vcpus: 'per-vCPU hotplug settings are not carried over',
  iothreads: 'I/O threads are not offered',
  iothreadids: 'I/O threads are not offered',
  cputune: 'vCPU pinning and scheduler tuning (cputune) are not carried over',
  numatune: 'NUMA memory placement (numatune) is not carried over',
  blkiotune: 'block I/O weights (blkiotune) are not carried over',
  memtune: 'memory limits (memtune) are not carried over',
  resource: 'cgroup placement (resource partition) is not carried over',
  sysinfo: 'SMBIOS strings (sysinfo) are not carried over',
  idmap: 'user namespace id maps are not carried over',
  keywrap: 's390 key wrapping is not carried over',
  launchSecurity: 'confidential computing (SEV/TDX launchSecurity) is not offered',
  perf: 'perf event counters are not carried over',
  throttlegroups: 'disk throttle groups are not carried over',
  pm: 'guest suspend settings (pm) are not carried over: QEMU\'s defaults apply',
  on_lockfailure: 'lock-failure actions are not carried over',
  'os/boot': 'boot device order is not carried over: Vigil has no boot-order setting (the firmware tries the disks)',
  'os/bootmenu': 'the firmware boot menu setting is not carried over',
  'os/smbios': 'SMBIOS mode is not carried over',
  'os/bios': 'SeaBIOS settings (useserial, reboot timeout) are not carried over',
  'os/dtb': 'a device tree blob is not offered (x86 guests have none)',
  'os/acpi': 'custom ACPI tables are not carried over',
  'features/hyperv': 'Hyper-V enlightenments are not carried over: Vigil has no setting for them, so Windows guests run without them',
  'features/kvm': 'KVM feature flags (hidden, hint-dedicated) are not carried over',
  'features/vmport': 'the VMware I/O port setting is not carried over: QEMU\'s default applies',
  'features/*': 'this machine feature is not carried over: QEMU\'s default applies',
  'cpu/feature': 'CPU feature flags are not carried over',
  'cpu/numa': 'guest NUMA topology is not carried over',
  'cpu/cache': 'CPU cache passthrough settings are not carried over',
  'disk/boot': 'per-device boot order is not carried over: Vigil has no boot-order setting',
  'interface/boot': 'per-device boot order is not carried over: Vigil has no boot-order setting',
  'hostdev/boot': 'per-device boot order is not carried over: Vigil has no boot-order setting',
  'disk/shareable': 'shared disks are not offered: QEMU locks the image for this VM alone',
  'disk/transient': 'transient (discard-on-shutdown) disks are not offered',
  'disk/iotune': 'I/O throttling (iotune) is not carried over',
  'interface/virtualport': 'Open vSwitch / 802.1Qbh port settings are not carried over: Vigil has no Open vSwitch support, check that the bridge accepts Vigil\'s tap',
  'interface/bandwidth': 'bandwidth limits are not carried over',
  'interface/filterref': 'libvirt nwfilter rules are not carried over: firewall the guest on the host instead',
  'interface/mtu': 'the MTU setting is not carried over: set it on the host side and in the guest',
  'interface/rom': 'the NIC option ROM setting is not carried over',
  'interface/backend': 'the network backend (passt, vhost device) is not carried over: Vigil\'s user NICs use QEMU\'s built-in slirp',
  'devices/tpm': 'TPM emulation (swtpm) is not offered',
  'devices/filesystem': 'shared folders (virtiofs, 9p) are not offered',
  'devices/smartcard': 'smartcard emulation is not offered',
  'devices/hub': 'USB hubs are not offered',
  'devices/parallel': 'parallel ports are not offered',
  'devices/shmem': 'shared-memory devices (ivshmem) are not offered',
  'devices/iommu': 'a virtual IOMMU is not offered',
  'devices/lease': 'lock manager leases are not carried over',
  'devices/crypto': 'crypto devices are not offered',
  'devices/nvram': 'the nvram device is not offered',
  'devices/pstore': 'the pstore device is not offered',
  'devices/memory': 'memory hotplug modules (DIMMs) are not offered',
};

/** Why an attribute nobody read is not carried over, by `element/@attribute`. */
const ATTRIBUTE_REASONS: Record<string, string> = {
  'driver/@discard': 'discard (TRIM) passthrough is not carried over: blocks the guest frees stay allocated in the image',
  'driver/@detect_zeroes': 'zero detection is not carried over',
  'driver/@io': 'the AIO mode is not carried over: QEMU\'s default (threads) applies',
  'driver/@iothread': 'I/O threads are not offered',
  'driver/@queues': 'multiqueue is not carried over: QEMU\'s default queue count applies',
  'driver/@error_policy': 'the I/O error policy is not carried over: QEMU\'s default (report to the guest, stop on ENOSPC) applies',
  'driver/@rerror_policy': 'the read error policy is not carried over',
};

/** Attributes whose value must not be echoed back (into a terminal, a log, a YAML comment). */
const SECRET_ATTRIBUTES = new Set(['passwd']);

function stepName(step: string | undefined): string {
  return (step ?? '').replace(/\[.*\]$/, '');
}

function describe(left: Leftover): string {
  const steps = left.path.split('/');
  if (left.attribute) {
    const { name, value } = left.attribute;
    const shown = SECRET_ATTRIBUTES.has(name) ? name : `${name}='${value}'`;
    const known = ATTRIBUTE_REASONS[`${stepName(steps.at(-2))}/@${name}`];
    return known !== undefined ? `${shown}: ${known}` : `${shown} has no Vigil equivalent`;
  }
  const name = stepName(steps.at(-1));
  const parent = stepName(steps.at(-2));
  return REASONS[`${parent}/${name}`] ?? REASONS[name] ?? REASONS[`${parent}/*`] ?? `<${name}> has no Vigil equivalent`;
}

/** A valid Vigil VM name for a libvirt domain name (libvirt allows spaces and more). */
function vmName(raw: string): string {
  const cleaned = raw
    .replace(/[^a-zA-Z0-9_.-]+/g, '-')
    .replace(/^[^a-zA-Z0-9]+/, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return NAME.test(cleaned) ? cleaned : 'imported-vm';
}

/** A size in MiB from a libvirt scaled integer (`<memory unit='KiB'>8388608</memory>`); rounds up to whole MiB. */
function sizeMiB(el: TrackedElement, log: SkipLog): number | undefined {
  const unit = el.attr('unit') ?? 'KiB';
  const text = el.text();
  const factor = UNITS[unit.toLowerCase()];
  const n = Number(text);
  if (factor === undefined || !/^\d+$/.test(text) || n <= 0) {
    log.element(el, `'${text}' ${unit} is not a size; Vigil's default applies`);
    return undefined;
  }
  const exact = (n * factor) / 2 ** 20;
  const mib = Math.ceil(exact);
  if (mib !== exact) log.note(el, `${text} ${unit} is not a whole number of MiB: rounded up to ${mib} MiB`);
  return mib;
}

function sizeText(mib: number): string {
  return mib % 1024 === 0 ? `${mib / 1024}G` : `${mib}M`;
}

/** The Vigil machine type for a libvirt one: versioned pc-q35-X.Y / pc-i440fx-X.Y drop the version. */
function machineType(el: TrackedElement, log: SkipLog): string | undefined {
  const machine = el.attr('machine');
  if (machine === undefined) return undefined;
  const family = /^pc-q35-/.test(machine) ? 'q35' : /^pc-i440fx-|^pc-\d/.test(machine) ? 'pc' : machine;
  if (family !== machine) {
    log.note(el, `the machine version ${machine} is not kept: Vigil runs the newest ${family} of the installed QEMU (the guest may see newer chipset defaults)`, 'machine');
  }
  return family;
}

class DomainMapper {
  readonly log = new SkipLog();

  constructor(
    private readonly root: TrackedElement,
    private readonly source: string,
  ) {}

  map(): VmDefinitionInput {
    const { root, log } = this;
    root.use();
    // id is the running domain's number; it changes on every start.
    root.accept('id');

    const nameEl = root.first('name');
    if (nameEl === undefined || nameEl.text() === '') {
      throw new VigilError('VIGIL_INVALID_INPUT', `${this.source}: the domain has no <name>; is this \`virsh dumpxml\` output?`, { context: { file: this.source } });
    }
    const name = vmName(nameEl.text());
    if (name !== nameEl.text()) log.note(nameEl, `renamed '${nameEl.text()}' to '${name}': Vigil names use letters, digits, "_", "." or "-" (at most 63)`);

    const title = root.childText('title');
    const text = root.childText('description');
    const description = [title, text].filter((t) => t !== undefined && t !== '' && t !== name).join(': ');

    const memoryEl = root.first('memory');
    const memory = memoryEl ? sizeMiB(memoryEl, log) : undefined;
    this.currentMemory(memory);
    const cpus = this.vcpus();
    const cpu = this.cpu();
    const accel = this.accel();

    const os = root.first('os');
    const typeEl = os?.first('type');
    const machine = typeEl ? machineType(typeEl, log) : undefined;
    if (typeEl) this.osType(typeEl);
    const firmware = os ? this.firmware(os) : undefined;
    const boot = os ? this.directBoot(os) : undefined;
    if (os) this.bootOrder(os);
    this.features();
    this.clock();
    const policy = this.lifecycle();
    for (const el of root.all('seclabel')) {
      if (el.peek('type') === 'none') log.ignore(el);
      else log.element(el, `the ${el.peek('model') ?? 'default'} security label (${el.peek('type') ?? 'dynamic'}) is not carried over: Vigil does not apply sVirt labels to QEMU or its images`);
    }
    const resource = root.all('resource')[0];
    if (resource?.all().length === 1 && resource.all('partition')[0]?.text() === '/machine') log.ignore(resource);

    const devicesEl = root.first('devices');
    const devices = devicesEl ? mapDevices(devicesEl, machine, log) : undefined;

    return {
      name,
      ...(description !== '' ? { description } : {}),
      ...(memory !== undefined ? { memory: sizeText(memory) } : {}),
      ...(cpus !== undefined ? { cpus } : {}),
      ...(cpu !== undefined ? { cpu } : {}),
      ...(machine !== undefined ? { machine } : {}),
      ...(accel !== undefined ? { accel } : {}),
      ...(firmware !== undefined ? { firmware } : {}),
      ...(boot !== undefined ? { boot } : {}),
      ...(devices && devices.disks.length > 0 ? { disks: devices.disks } : {}),
      ...(devices && devices.nics.length > 0 ? { nics: devices.nics } : {}),
      ...(devices?.vsock !== undefined ? { vsock: devices.vsock } : {}),
      ...(devices && devices.usb.length > 0 ? { usb: devices.usb } : {}),
      ...(devices && devices.pci.length > 0 ? { pci: devices.pci } : {}),
      ...(devices && devices.devices.length > 0 ? { devices: devices.devices } : {}),
      ...(devices?.serial === true ? { serial: { log: true } } : {}),
      display: devices?.display ?? 'none',
      ...(policy !== 'no' ? { autostart: { restart: { policy } } } : {}),
    };
  }

  private currentMemory(memory: number | undefined): void {
    const el = this.root.all('currentMemory')[0];
    if (!el) return;
    const current = sizeMiB(el, new SkipLog());
    if (current === memory) this.log.ignore(el);
    else if (current !== undefined) this.log.element(el, `the balloon target (${current} MiB) is not carried over: the guest boots with all of memory`);
  }

  private vcpus(): number | undefined {
    const el = this.root.first('vcpu');
    if (!el) return undefined;
    const n = Number(el.text());
    if (!Number.isInteger(n) || n < 1) {
      this.log.element(el, `'${el.text()}' is not a vCPU count`);
      return undefined;
    }
    el.accept('placement');
    const cpuset = el.peek('cpuset');
    if (cpuset !== undefined) this.log.attribute(el, 'cpuset', `pinning vCPUs to host CPUs ${cpuset} is not carried over`);
    const current = el.peek('current');
    if (current !== undefined && current !== String(n)) this.log.attribute(el, 'current', `vCPU hotplug (${current} of ${n} online at boot) is not offered: all ${n} are online`);
    else el.accept('current');
    return n;
  }

  private cpu(): string | undefined {
    const el = this.root.all('cpu')[0];
    if (!el) return undefined;
    const mode = el.attr('mode') ?? 'custom';
    // match/check/migratable steer libvirt's CPU comparisons and migration, which Vigil does not do.
    el.accept('match', 'check', 'migratable');
    const topology = el.all('topology')[0];
    if (topology) {
      const parts = topology.attributeNames.map((a) => `${a}=${topology.peek(a) ?? ''}`).join(' ');
      this.log.element(topology, `CPU topology (${parts}) is not carried over: the guest sees \`cpus\` vCPUs in QEMU's default layout`);
    }
    if (mode === 'host-passthrough') return 'host';
    if (mode === 'maximum') return 'max';
    if (mode === 'host-model') {
      this.log.note(el, 'host-model (a named CPU model close to the host) is not offered: Vigil\'s default (host under KVM, max under TCG) applies', 'mode');
      return undefined;
    }
    const model = el.childText('model');
    if (model !== undefined && model !== '') {
      el.all('model')[0]?.accept('fallback', 'vendor_id');
      return model;
    }
    return undefined;
  }

  private accel(): 'kvm' | 'tcg' | undefined {
    const type = this.root.attr('type');
    if (type === 'kvm') return 'kvm';
    if (type === 'qemu') return 'tcg';
    this.log.note(this.root, `domain type ${type ?? '(none)'} is not offered: Vigil runs QEMU with KVM or TCG (accel: auto)`, 'type');
    return undefined;
  }

  private osType(el: TrackedElement): void {
    const arch = el.attr('arch');
    if (arch !== undefined && arch !== 'x86_64') this.log.note(el, `architecture ${arch} is not carried over: Vigil runs x86_64 guests`, 'arch');
    const kind = el.text();
    if (kind !== 'hvm') this.log.note(el, `OS type ${kind} is not offered: Vigil runs full virtual machines (hvm)`);
  }

  private firmware(os: TrackedElement): FirmwareInput | undefined {
    const log = this.log;
    const auto = os.attr('firmware');
    const loader = os.all('loader')[0];
    const nvram = os.all('nvram')[0];
    for (const f of os.all('firmware')[0]?.all('feature') ?? []) {
      if (f.peek('enabled') === 'no') f.accept('enabled', 'name');
      else log.element(f, `firmware feature ${f.peek('name') ?? ''} is not carried over: Vigil's default UEFI build has no Secure Boot; set firmware.code and firmware.vars to a secboot build and enrolled vars`);
    }
    os.first('firmware');
    const pflash = loader?.peek('type') === 'pflash';
    if (auto !== 'efi' && !pflash) {
      if (loader) log.element(loader, `the ${loader.peek('type') ?? 'rom'} loader ${loader.text()} is not carried over: Vigil boots SeaBIOS or OVMF`);
      return auto === 'bios' ? { type: 'bios' } : undefined;
    }
    const firmware: FirmwareInput = { type: 'uefi' };
    if (loader) {
      const code = loader.text();
      if (code.startsWith('/')) firmware.code = code;
      loader.accept('readonly', 'type');
      if (loader.peek('format') === 'raw') loader.accept('format');
      if (loader.peek('secure') === 'yes') log.attribute(loader, 'secure', 'a Secure Boot loader needs SMM, which Vigil does not set: the guest may not boot');
      else loader.accept('secure');
    }
    if (nvram) {
      const template = nvram.attr('template');
      if (template?.startsWith('/') === true) firmware.vars = template;
      nvram.accept('templateFormat', 'format');
      const store = nvram.text();
      if (store !== '') {
        log.note(nvram, `the existing variable store ${store} (UEFI boot entries) is not reused: Vigil copies firmware.vars on first start; the firmware finds the disk's EFI/BOOT loader again, or copy the store over`);
      }
    }
    return firmware;
  }

  private directBoot(os: TrackedElement): BootInput | undefined {
    const kernel = os.childText('kernel');
    if (kernel === undefined || kernel === '') return undefined;
    const initrd = os.childText('initrd');
    const cmdline = os.childText('cmdline');
    return {
      kernel,
      ...(initrd !== undefined && initrd !== '' ? { initrd } : {}),
      ...(cmdline !== undefined && cmdline !== '' ? { cmdline } : {}),
    };
  }

  private features(): void {
    const features = this.root.first('features');
    // Vigil's machines have ACPI and an APIC (and SMM on q35), and x86_64 has PAE: libvirt lists them, nothing was chosen.
    for (const f of features?.all() ?? []) {
      const plain = f.attributeNames.length === 0 && f.all().length === 0;
      if ((['acpi', 'apic', 'pae'].includes(f.name) && plain) || (f.name === 'smm' && f.peek('state') === 'on' && f.all().length === 0)) f.settle();
    }
  }

  private bootOrder(os: TrackedElement): void {
    const boot = os.all('boot');
    // One <boot dev='hd'/> is what every disk-booting domain says; anything else is an order worth listing.
    if (boot.length === 1 && boot[0]?.peek('dev') === 'hd') this.log.ignore(boot[0]);
  }

  private clock(): void {
    const clock = this.root.all('clock')[0];
    if (!clock) return;
    const offset = clock.attr('offset') ?? 'utc';
    if (offset !== 'utc') this.log.note(clock, `clock offset ${offset} is not carried over: the guest's RTC starts at UTC (Windows guests expect local time)`, 'offset');
    for (const t of clock.all('timer')) {
      const attrs = t.attributeNames.filter((a) => a !== 'name').map((a) => `${a}=${t.peek(a) ?? ''}`);
      this.log.element(t, `timer ${t.peek('name') ?? ''} (${attrs.join(' ')}) is not carried over: QEMU's timer defaults apply`);
    }
  }

  private lifecycle(): RestartPolicy {
    const log = this.log;
    let policy: RestartPolicy = 'no';
    const raise = (p: RestartPolicy): void => {
      if (p === 'always' || policy === 'no') policy = p;
    };
    const poweroff = this.root.all('on_poweroff')[0];
    const reboot = this.root.all('on_reboot')[0];
    const crash = this.root.all('on_crash')[0];
    if (poweroff) {
      const action = poweroff.text();
      if (action === 'restart') raise('always');
      else if (action === 'destroy') log.ignore(poweroff);
      else log.element(poweroff, `on_poweroff ${action} is not offered: the VM stops when the guest powers off`);
    }
    if (reboot) {
      const action = reboot.text();
      if (action === 'restart') log.ignore(reboot);
      else log.element(reboot, `on_reboot ${action} is not offered: Vigil lets the guest reboot`);
    }
    if (crash) {
      const action = crash.text();
      if (action === 'restart' || action === 'rename-restart') raise('on-failure');
      else if (action === 'destroy') log.ignore(crash);
      else if (action === 'coredump-restart') {
        raise('on-failure');
        log.note(crash, 'the guest core dump is not carried over: Vigil restarts the VM (restart policy on-failure) without dumping it');
      } else log.element(crash, `on_crash ${action} is not offered: a crashed guest is stopped (add autostart.restart.policy: on-failure to restart it)`);
    }
    return policy;
  }
}

function header(source: string, skipped: SkippedEntry[]): string {
  const lines = [` Imported from ${source} by \`vigil import libvirt\`; review it before use.`];
  if (skipped.length === 0) lines.push(' Everything in the libvirt domain was carried over.');
  else {
    lines.push(` Not carried over (${skipped.length}):`);
    for (const s of skipped) lines.push(`   ${s.path}: ${s.reason}`);
  }
  return lines.join('\n');
}

/** Renders a definition as YAML with a comment header naming the source and what was not carried over. */
export function definitionYaml(definition: VmDefinitionInput, source: string, skipped: SkippedEntry[]): string {
  const doc = new Document(definition);
  doc.commentBefore = header(source, skipped);
  return doc.toString({ lineWidth: 0 });
}

/** Converts a libvirt domain XML into a Vigil definition; throws VIGIL_INVALID_INPUT when it cannot. */
export function importLibvirtDomain(xml: string, source: string): LibvirtImport {
  const root = parseTrackedXml(xml, source);
  if (root.name !== 'domain') {
    throw new VigilError('VIGIL_INVALID_INPUT', `${source}: the root element is <${root.name}>, not <domain>: pass a domain's XML (virsh dumpxml NAME)`, {
      context: { file: source },
    });
  }
  const mapper = new DomainMapper(root, source);
  const definition = mapper.map();
  const skipped = mapper.log.finish(root, describe);
  const checked = vmDefinitionSchema.safeParse(definition);
  if (!checked.success) {
    const problems = checked.error.issues.map((i) => `  ${i.path.length > 0 ? i.path.join('.') : '(top level)'}: ${i.message}`);
    throw new VigilError('VIGIL_INVALID_INPUT', `${source}: the imported definition does not validate:\n${problems.join('\n')}`, {
      context: { file: source },
    });
  }
  return { definition, yaml: definitionYaml(definition, source, skipped), skipped };
}

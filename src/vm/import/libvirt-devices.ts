/**
 * libvirt `<devices>` -> the device parts of a Vigil definition (disks, NICs, USB and PCI passthrough, emulated
 * devices, vsock, serial, display). What does not map is skipped with a reason the user can act on.
 */
import type { VmDefinitionInput } from '../definition/schema.js';
import type { SkipLog } from './skip-log.js';
import type { TrackedElement } from './xml-tree.js';

type DiskInput = NonNullable<VmDefinitionInput['disks']>[number];
type NicInput = NonNullable<VmDefinitionInput['nics']>[number];
type ForwardInput = NonNullable<NicInput['forward']>[number];
type UsbInput = NonNullable<VmDefinitionInput['usb']>[number];
type PciInput = NonNullable<VmDefinitionInput['pci']>[number];
type DeviceInput = NonNullable<VmDefinitionInput['devices']>[number];

/** The device parts of a definition, as carried over from `<devices>`. */
export interface DeviceParts {
  disks: DiskInput[];
  nics: NicInput[];
  usb: UsbInput[];
  pci: PciInput[];
  devices: DeviceInput[];
  vsock?: { cid: number };
  /** A serial port or console was defined (Vigil's serial console with its defaults). */
  serial: boolean;
  display: 'none' | 'vnc';
}

const ID = /^[a-zA-Z][a-zA-Z0-9_.-]{0,31}$/;
const MAC = /^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/;
const STABLE_DEVICE = /^\/dev\/disk\/by-(uuid|id|partuuid|label|path)\//;
const SPICE = 'SPICE is not supported by Vigil';

function hex(value: string | undefined, width: number): string | undefined {
  if (value === undefined) return undefined;
  const n = value.toLowerCase().startsWith('0x') ? parseInt(value.slice(2), 16) : parseInt(value, 10);
  return Number.isInteger(n) && n >= 0 ? n.toString(16).padStart(width, '0') : undefined;
}

/** A libvirt PCI `<address domain bus slot function>` as `0000:01:00.0`; undefined when incomplete. */
export function pciAddress(el: TrackedElement | undefined): string | undefined {
  if (el === undefined) return undefined;
  el.accept('type');
  const domain = hex(el.attr('domain') ?? '0', 4);
  const bus = hex(el.attr('bus'), 2);
  const slot = hex(el.attr('slot'), 2);
  const fn = hex(el.attr('function') ?? '0', 1);
  if (domain === undefined || bus === undefined || slot === undefined || fn === undefined) return undefined;
  if (domain.length > 4 || bus.length > 2 || slot.length > 2 || Number.parseInt(fn, 16) > 7) return undefined;
  return `${domain}:${bus}:${slot}.${fn}`;
}

function usbId(value: string | undefined): string | undefined {
  const id = hex(value, 4);
  return id !== undefined && id.length === 4 ? id : undefined;
}

class DeviceMapper {
  readonly parts: DeviceParts = { disks: [], nics: [], usb: [], pci: [], devices: [], serial: false, display: 'none' };
  private macvtaps = 0;

  constructor(
    private readonly log: SkipLog,
    private readonly machine: string | undefined,
  ) {}

  disk(el: TrackedElement): void {
    const log = this.log;
    const device = el.attr('device') ?? 'disk';
    const type = el.attr('type') ?? 'file';
    const target = el.first('target');
    const dev = target?.attr('dev');
    const source = el.all('source')[0];
    const label = dev !== undefined ? `disk ${dev}` : 'disk';
    if (device === 'cdrom') {
      const iso = source?.peek('file') ?? source?.peek('dev');
      log.element(el, `CD-ROM ${iso === undefined ? '(empty) ' : `${iso} `}not carried over: Vigil has no CD-ROM drives (an installer ISO is rarely needed once the guest is installed)`);
      return;
    }
    if (device !== 'disk') {
      const why = device === 'lun' ? 'SCSI LUN passthrough is not offered; pass the whole device as a disk by its /dev/disk/by-id path' : `${device} drives are not offered`;
      log.element(el, `${device} ${dev ?? 'drive'} not carried over: ${why}`);
      return;
    }
    if (type !== 'file' && type !== 'block') {
      const hint = type === 'volume' ? ` (find the volume's path with \`virsh vol-path --pool ${source?.peek('pool') ?? 'POOL'} ${source?.peek('volume') ?? 'VOLUME'}\` and add it as file)` : '';
      log.element(el, `${label} of type ${type} not carried over: Vigil opens local image files and block devices only${hint}`);
      return;
    }
    const path = type === 'file' ? source?.attr('file') : source?.attr('dev');
    if (path === undefined || path === '') {
      log.element(el, `${label} has no source`);
      return;
    }
    if (type === 'block' && !STABLE_DEVICE.test(path)) {
      const mapper = /^\/dev\/mapper\/(.+)$/.exec(path);
      const hint = mapper ? `/dev/disk/by-id/dm-name-${mapper[1]}` : `the link to it under /dev/disk/by-id/ (ls -l /dev/disk/by-id/ | grep ${path.split('/').pop() ?? ''})`;
      log.element(el, `block device ${path} is not named by a stable path: Vigil takes whole devices only as /dev/disk/by-*/...; add it as device: ${hint}`);
      return;
    }
    if (el.all('encryption').length > 0) {
      log.element(el, `encrypted image ${path} not carried over: Vigil does not open LUKS-encrypted images`);
      return;
    }
    // The target name (vda, sda, nvme0n1) makes a stable id; the guest's own naming never followed it anyway.
    const unique = dev !== undefined && ID.test(dev) && !this.parts.disks.some((d) => d.id === dev);
    const id = unique ? { id: dev } : {};
    const disk: DiskInput = type === 'file' ? { ...id, file: path } : { ...id, device: path };
    source?.accept('index');

    const driver = el.first('driver');
    driver?.accept('name');
    const format = driver?.attr('type');
    // libvirt opens a disk without a format as raw (it never probes), and Vigil never lets QEMU guess either.
    if (format === undefined || format === 'qcow2' || format === 'raw') disk.format = format ?? 'raw';
    else {
      log.element(el, `disk ${path}: image format ${format} is not offered (qcow2 or raw): convert it with qemu-img convert -O qcow2`);
      return;
    }
    const cache = driver?.attr('cache');
    if (cache === 'none' || cache === 'writeback' || cache === 'writethrough') disk.cache = cache;
    else if (cache !== undefined && cache !== 'default' && driver) log.note(driver, `cache mode ${cache} is not offered; Vigil's default (writeback) applies`, 'cache');

    const readonly = el.all('readonly').length > 0;
    if (readonly) {
      el.first('readonly');
      disk.readonly = true;
    }
    const bus = target?.attr('bus');
    if (bus === 'virtio' || bus === 'nvme') disk.bus = bus;
    else if (bus === 'sata' || bus === 'ide' || bus === 'scsi' || bus === 'usb') {
      // QEMU's SATA disk (ide-hd) cannot be read-only, so a read-only disk goes to the next nearest bus.
      disk.bus = readonly ? 'virtio' : 'sata';
      const why = readonly
        ? `a read-only ${bus} disk is carried over on virtio, since QEMU cannot attach a read-only disk as SATA (the guest sees /dev/vdX and needs virtio drivers)`
        : `bus ${bus} is not offered; carried over as sata, the nearest (the guest still sees /dev/sdX; Windows uses its built-in AHCI driver)`;
      if (target && (readonly || bus !== 'sata')) log.note(target, why, 'bus');
    } else if (bus !== undefined) {
      log.element(el, `disk ${path} on bus ${bus} not carried over: Vigil offers virtio, sata and nvme`);
      return;
    }
    const serial = el.childText('serial');
    if (serial !== undefined && serial !== '') {
      disk.serial = serial.slice(0, 20);
      if (serial.length > 20) log.note(el.all('serial')[0] ?? el, `serial ${serial} cut to 20 characters (${disk.serial}), the most Vigil accepts`);
    }
    // An empty <backingStore/> is what libvirt prints for "none"; a chain is read from the qcow2 header anyway.
    log.ignore(...el.all('backingStore'));
    this.parts.disks.push(disk);
  }

  nic(el: TrackedElement): void {
    const log = this.log;
    const type = el.attr('type');
    const source = el.first('source');
    const target = el.all('target')[0];
    let nic: NicInput;
    switch (type) {
      case 'network': {
        const network = source?.peek('network') ?? 'default';
        const bridge = source?.attr('bridge');
        source?.accept('portid', 'portgroup');
        nic = { type: 'user' };
        const alt = bridge !== undefined ? `; to keep the guest on ${bridge}, change it to type: bridge, bridge: ${bridge}` : '';
        if (source) {
          log.attribute(source, 'network', `libvirt NAT network '${network}' becomes QEMU user networking (slirp): outbound NAT, DHCP and DNS come from QEMU, and the host reaches the guest only through forward ports${alt}`);
        } else log.note(el, `libvirt network interface becomes QEMU user networking (slirp)`);
        log.ignore(target);
        break;
      }
      case 'user': {
        nic = { type: 'user' };
        const forward = this.portForwards(el);
        if (forward.length > 0) nic.forward = forward;
        break;
      }
      case 'bridge': {
        const bridge = source?.attr('bridge');
        if (bridge === undefined) {
          log.element(el, 'bridge interface without a source bridge not carried over');
          return;
        }
        nic = { type: 'bridge', bridge };
        log.ignore(target);
        break;
      }
      case 'direct': {
        const link = source?.attr('dev');
        const mode = source?.attr('mode') ?? 'vepa';
        const name = target?.attr('dev') ?? `macvtap${this.macvtaps}`;
        this.macvtaps++;
        target?.use();
        nic = { type: 'macvtap', macvtap: name };
        if (source) {
          log.note(source, `libvirt creates the macvtap on ${link ?? 'its host interface'} (mode ${mode}) at start; Vigil opens an existing one: create it with \`ip link add link ${link ?? 'IFACE'} name ${name} type macvtap mode ${mode}\``);
        }
        break;
      }
      case 'hostdev': {
        el.accept('managed');
        const address = pciAddress(source?.first('address'));
        if (address === undefined) {
          log.element(el, 'SR-IOV interface without a PCI source address not carried over');
          return;
        }
        nic = { type: 'vf', address };
        break;
      }
      case 'ethernet': {
        const ifname = target?.attr('dev');
        target?.accept('managed');
        if (ifname === undefined) {
          log.element(el, 'ethernet interface without a target tap name not carried over: Vigil needs the tap to exist (type: tap, ifname)');
          return;
        }
        nic = { type: 'tap', ifname };
        break;
      }
      default:
        log.element(el, `${type ?? 'untyped'} interface not carried over: Vigil offers user, tap, bridge, macvtap and SR-IOV VF NICs`);
        return;
    }

    const macEl = el.first('mac');
    macEl?.accept('type');
    const mac = macEl?.attr('address');
    if (mac !== undefined && MAC.test(mac)) nic.mac = mac.toLowerCase();
    else if (mac !== undefined && macEl) log.note(macEl, `'${mac}' is not a MAC address; Vigil derives a stable one`, 'address');

    const modelEl = el.first('model');
    const model = modelEl?.attr('type');
    if (model === 'virtio' || model === 'e1000e' || model === 'rtl8139') nic.model = model;
    else if (model === 'e1000' && modelEl) {
      nic.model = 'e1000e';
      log.note(modelEl, 'model e1000 is not offered; carried over as e1000e, its PCIe successor (same guest drivers on Windows and Linux)', 'type');
    } else if (model !== undefined && modelEl) log.note(modelEl, `model ${model} is not offered; virtio (Vigil's default) applies: the guest needs virtio-net drivers`, 'type');

    const vlan = el.all('vlan')[0];
    if (vlan) {
      const tags = vlan.all('tag');
      if (tags.length === 1 && vlan.peek('trunk') !== 'yes' && tags[0]) {
        const id = Number(tags[0].attr('id'));
        vlan.use();
        if (nic.type === 'user') log.element(vlan, 'a VLAN tag has no meaning on QEMU user networking: not carried over');
        else if (Number.isInteger(id) && id >= 1 && id <= 4094) nic.vlan = id;
        else log.element(vlan, `VLAN tag ${String(tags[0].peek('id'))} is outside 1-4094`);
        const nativeMode = tags[0].peek('nativeMode');
        if (nativeMode !== undefined) log.attribute(tags[0], 'nativeMode', `native VLAN mode (${nativeMode}) is not offered: Vigil tags all traffic with one VLAN`);
      } else {
        log.element(vlan, `VLAN trunk (tags ${tags.map((t) => t.peek('id')).join(', ')}) not carried over: Vigil sets one VLAN tag per NIC`);
      }
    }

    const linkEl = el.first('link');
    const state = linkEl?.attr('state');
    if (state === 'down' && nic.type === 'vf' && linkEl) {
      log.note(linkEl, "a VF's link is set on the host (ip link set PF vf N state disable), not by QEMU: not carried over", 'state');
    } else if (state === 'up' || state === 'down') nic.link = state;

    const driver = el.all('driver')[0];
    if (driver && ['vhost', 'qemu', 'vfio', undefined].includes(driver.peek('name'))) driver.use().accept('name');
    this.parts.nics.push(nic);
  }

  private portForwards(el: TrackedElement): ForwardInput[] {
    const out: ForwardInput[] = [];
    for (const pf of el.all('portForward')) {
      const proto = pf.attr('proto') ?? 'tcp';
      const address = pf.attr('address');
      for (const range of pf.all('range')) {
        const start = Number(range.peek('start'));
        const to = Number(range.peek('to') ?? range.peek('start'));
        // QEMU's user networking forwards IPv4 only (Vigil checks hostAddress is one).
        const ipv4 = address === undefined || /^\d{1,3}(\.\d{1,3}){3}$/.test(address);
        if (!ipv4) this.log.element(range, `forwarding from ${address ?? ''} is not offered: QEMU's user networking forwards IPv4 only`);
        else if ((proto === 'tcp' || proto === 'udp') && range.peek('end') === undefined && Number.isInteger(start) && Number.isInteger(to)) {
          range.use().accept('start', 'to');
          pf.use();
          out.push({ protocol: proto, hostPort: start, guestPort: to, ...(address !== undefined ? { hostAddress: address } : {}) });
        } else this.log.element(range, 'port ranges (start..end) and protocols other than tcp/udp are not offered: list each forwarded port');
      }
    }
    return out;
  }

  hostdev(el: TrackedElement): void {
    const log = this.log;
    const mode = el.attr('mode') ?? 'subsystem';
    const type = el.attr('type');
    el.accept('managed');
    const source = el.first('source');
    if (mode !== 'subsystem' || (type !== 'usb' && type !== 'pci')) {
      log.element(el, `${type ?? mode} host device not carried over: Vigil passes through USB and PCI devices only`);
      return;
    }
    if (type === 'pci') {
      const address = pciAddress(source?.first('address'));
      if (address === undefined) {
        log.element(el, 'PCI host device without a complete source address not carried over');
        return;
      }
      const driver = el.all('driver')[0];
      if (driver?.peek('name') === 'vfio') driver.use().accept('name');
      this.parts.pci.push({ address });
      return;
    }
    const vendor = usbId(source?.first('vendor')?.attr('id'));
    const product = usbId(source?.first('product')?.attr('id'));
    const where = source?.all('address')[0];
    if (vendor !== undefined && product !== undefined) {
      // A running domain also prints where the device is plugged in now; vendor:product already names it.
      log.ignore(where);
      this.parts.usb.push({ vendor, product });
      return;
    }
    const bus = where?.peek('bus');
    const device = where?.peek('device');
    log.element(
      el,
      `USB device at bus ${bus ?? '?'} device ${device ?? '?'} not carried over: libvirt names it by device number, which changes on every replug; ` +
        'Vigil needs vendor and product, or bus and port: find it with `lsusb -t` and add {bus: N, port: "P"}',
    );
  }

  serialPorts(serials: TrackedElement[], consoles: TrackedElement[]): void {
    const log = this.log;
    for (const el of serials) {
      const target = el.first('target');
      const port = target?.peek('port') ?? '0';
      if (this.parts.serial || port !== '0') {
        log.element(el, `serial port ${port} not carried over: Vigil gives the guest one serial port, its console (ttyS0)`);
        continue;
      }
      this.parts.serial = true;
      this.consoleBackend(el);
      target?.accept('type', 'port');
      log.ignore(target?.all('model')[0]);
    }
    for (const el of consoles) {
      const target = el.all('target')[0];
      const kind = target?.peek('type') ?? 'serial';
      if (kind === 'serial' && (target?.peek('port') ?? '0') === '0') {
        // The serial console is the same device as serial port 0: libvirt prints it twice.
        if (!this.parts.serial) {
          this.parts.serial = true;
          this.consoleBackend(el);
          el.accept('tty');
          log.ignore(target);
        } else log.ignore(el);
        continue;
      }
      log.element(el, `${kind} console not carried over: Vigil's console is the first serial port (ttyS0); point the guest's console= there`);
    }
  }

  private consoleBackend(el: TrackedElement): void {
    const type = el.attr('type') ?? 'pty';
    const source = el.all('source')[0];
    if (type === 'pty') this.log.ignore(source);
    else if (source) this.log.element(source, `the ${type} console backend is not carried over: Vigil connects the console to its own socket and keeps serial.log`);
    else this.log.note(el, `the ${type} console backend is not carried over: Vigil connects the console to its own socket and keeps serial.log`, 'type');
    const logEl = el.all('log')[0];
    if (logEl) this.log.element(logEl, `libvirt's console log ${logEl.peek('file') ?? '(no file)'} is not carried over: Vigil keeps its own serial.log`);
  }

  graphics(el: TrackedElement): void {
    const type = el.attr('type');
    if (type === 'vnc' && this.parts.display === 'none') {
      this.parts.display = 'vnc';
      el.accept('autoport');
      const port = el.peek('port');
      if (port === '-1' || port === undefined) el.accept('port');
      else this.log.attribute(el, 'port', `the fixed VNC port ${port} is not carried over: Vigil chooses where VNC listens`);
      const listen = el.peek('listen');
      for (const l of el.all('listen')) {
        if (l.peek('type') === 'address' && (listen === undefined || l.peek('address') === listen)) this.log.ignore(l);
      }
      if (listen !== undefined) this.log.attribute(el, 'listen', `the VNC listen address (${listen}) is not carried over: Vigil chooses where VNC listens`);
      if (el.peek('passwd') !== undefined) this.log.attribute(el, 'passwd', 'the VNC password is not carried over');
      return;
    }
    if (type === 'spice') this.log.element(el, `${SPICE}; set display: vnc for a screen`);
    else if (type === 'vnc') this.log.element(el, 'only one VNC display is carried over');
    else this.log.element(el, `${type ?? 'untyped'} graphics not carried over: Vigil offers display: vnc or none`);
  }

  input(el: TrackedElement): void {
    const type = el.attr('type');
    const bus = el.attr('bus');
    // pc and q35 always have a PS/2 keyboard and mouse; libvirt lists them though nothing was chosen.
    if (bus === 'ps2' && (type === 'mouse' || type === 'keyboard')) return this.log.ignore(el);
    if (bus === 'virtio' && (type === 'tablet' || type === 'keyboard' || type === 'mouse')) {
      el.use();
      this.parts.devices.push({ driver: `virtio-${type}-pci` });
      return;
    }
    this.log.element(el, `${type ?? ''} input device (${bus ?? 'default bus'}) not carried over${type === 'tablet' ? ': add {driver: virtio-tablet-pci} under devices if the guest needs an absolute pointer over VNC' : ''}`.trimStart());
  }

  memballoon(el: TrackedElement): void {
    const model = el.attr('model');
    if (model === 'none') return this.log.ignore(el);
    if (model !== 'virtio') return this.log.element(el, `${model ?? 'untyped'} memory balloon not carried over`);
    const props: Record<string, boolean> = {};
    if (el.attr('autodeflate') === 'on') props['deflate-on-oom'] = true;
    if (el.attr('freePageReporting') === 'on') props['free-page-reporting'] = true;
    const stats = el.all('stats')[0];
    if (stats) this.log.element(stats, 'balloon statistics polling is not carried over (set guest-stats-polling-interval through QMP if needed)');
    this.parts.devices.push({ driver: 'virtio-balloon-pci', ...(Object.keys(props).length > 0 ? { props } : {}) });
  }

  rng(el: TrackedElement): void {
    if (el.attr('model') !== 'virtio') return this.log.element(el, `${el.peek('model') ?? 'untyped'} RNG not carried over`);
    const backend = el.first('backend');
    const kind = backend?.attr('model');
    const file = backend?.text();
    // QEMU's default entropy source (getrandom) is what /dev/urandom and, on current kernels, /dev/random give.
    if (backend && !(kind === 'random' && (file === '/dev/urandom' || file === '/dev/random' || file === ''))) {
      const what = [kind, file].filter((w) => w !== undefined && w !== '').join(' ');
      this.log.element(backend, `RNG backend ${what} is not carried over: Vigil's virtio-rng uses QEMU's built-in source (getrandom)`);
    }
    const props: Record<string, number> = {};
    const rate = el.all('rate')[0];
    if (rate) {
      const bytes = Number(rate.attr('bytes'));
      const period = Number(rate.attr('period') ?? '1000');
      rate.use();
      if (Number.isInteger(bytes) && Number.isInteger(period)) {
        props['max-bytes'] = bytes;
        props.period = period;
      }
    }
    this.parts.devices.push({ driver: 'virtio-rng-pci', ...(Object.keys(props).length > 0 ? { props } : {}) });
  }

  watchdog(el: TrackedElement): void {
    const model = el.attr('model');
    const action = el.attr('action') ?? 'reset';
    const q35 = this.machine === 'q35';
    if (model === 'itco' && q35) this.log.ignore(el.all('alias')[0]);
    else if (model === 'i6300esb' || model === 'ib700') this.parts.devices.push({ driver: model });
    else return this.log.element(el, `${model ?? 'untyped'} watchdog not carried over${model === 'itco' ? ': it is built into q35 only' : ''}`);
    // reset is QEMU's own default watchdog action.
    if (action !== 'reset') this.log.note(el, `watchdog action ${action} is not carried over: QEMU resets the guest when the watchdog fires`, 'action');
  }

  panic(el: TrackedElement): void {
    const model = el.attr('model') ?? 'isa';
    const driver = model === 'isa' ? 'pvpanic' : model === 'pci' ? 'pvpanic-pci' : undefined;
    if (driver === undefined) return this.log.element(el, `${model} panic notifier not carried over`);
    this.parts.devices.push({ driver });
  }

  vsock(el: TrackedElement): void {
    el.accept('model');
    const cidEl = el.first('cid');
    const cid = Number(cidEl?.attr('address'));
    const auto = cidEl?.attr('auto');
    if (Number.isInteger(cid) && cid >= 3) {
      this.parts.vsock = { cid };
      return;
    }
    this.log.element(el, `vsock ${auto === 'yes' ? 'with an automatic CID' : 'without a CID'} not carried over: Vigil needs a fixed CID (>= 3); add vsock: {cid: N}`);
  }

  channel(el: TrackedElement): void {
    const type = el.peek('type');
    const name = el.all('target')[0]?.peek('name');
    if (type === 'spicevmc' || name?.startsWith('com.redhat.spice') === true) return this.log.element(el, `SPICE agent channel not carried over: ${SPICE}`);
    if (name === 'org.qemu.guest_agent.0') return this.log.element(el, 'QEMU guest agent channel not carried over: Vigil has no guest-agent channel (vsock reaches guest services)');
    this.log.element(el, `channel ${name ?? type ?? '(untyped)'} not carried over: Vigil has no virtio-serial channels`);
  }

  controllers(els: TrackedElement[]): void {
    const byType = new Map<string, TrackedElement[]>();
    for (const el of els) {
      const type = el.peek('type') ?? 'unknown';
      byType.set(type, [...(byType.get(type) ?? []), el]);
    }
    for (const [type, members] of byType) {
      const first = members[0];
      if (first === undefined) continue;
      const models = [...new Set(members.map((m) => m.peek('model')).filter((m) => m !== undefined))];
      const what = `${members.length} ${type} controller${members.length > 1 ? 's' : ''}${models.length > 0 ? ` (${models.join(', ')})` : ''}`;
      const why = type === 'pci' ? 'Vigil lays out the PCI topology itself' : 'Vigil adds the controllers its devices need';
      this.log.group(`/domain/devices/controller[@type='${type}']`, first, members, `${what} not carried over: ${why}`);
    }
  }
}

const EMULATORS = /^\/usr\/(bin|libexec)\/(qemu-system-x86_64|qemu-kvm)$/;

/** Maps `<devices>`; `machine` is the Vigil machine type (q35, pc, ...) some built-in devices depend on. */
export function mapDevices(devices: TrackedElement, machine: string | undefined, log: SkipLog): DeviceParts {
  const m = new DeviceMapper(log, machine);
  devices.use();
  for (const el of devices.all()) {
    // <alias> is the name libvirt gave the device in a running domain: state, not configuration.
    log.ignore(...el.all('alias'));
    switch (el.name) {
      case 'emulator':
        if (EMULATORS.test(el.text())) log.ignore(el);
        else log.element(el, `emulator ${el.text()} is not carried over: Vigil runs the QEMU named in its host configuration`);
        break;
      case 'disk':
        m.disk(el);
        break;
      case 'interface':
        m.nic(el);
        break;
      case 'hostdev':
        m.hostdev(el);
        break;
      case 'graphics':
        m.graphics(el);
        break;
      case 'input':
        m.input(el);
        break;
      case 'memballoon':
        m.memballoon(el);
        break;
      case 'rng':
        m.rng(el);
        break;
      case 'watchdog':
        m.watchdog(el);
        break;
      case 'panic':
        m.panic(el);
        break;
      case 'vsock':
        m.vsock(el);
        break;
      case 'channel':
        m.channel(el);
        break;
      case 'redirdev':
        log.element(el, el.peek('type') === 'spicevmc' ? `USB redirection not carried over: ${SPICE}` : 'USB redirection not carried over: pass the device through under usb instead');
        break;
      case 'sound':
        log.element(el, `sound card (${el.peek('model') ?? 'default'}) not carried over: Vigil configures no audio`);
        break;
      case 'audio':
        if (el.peek('type') === 'none') log.ignore(el);
        else log.element(el, `${el.peek('type') ?? ''} audio backend not carried over: Vigil configures no audio`.trimStart());
        break;
      case 'video': {
        const model = el.all('model')[0]?.peek('type');
        if (model === 'none') log.ignore(el);
        else log.element(el, `video adapter (${model ?? 'default'}) not carried over: Vigil has no video-model setting`);
        break;
      }
      default:
        break;
    }
  }
  m.serialPorts(devices.all('serial'), devices.all('console'));
  m.controllers(devices.all('controller'));

  // Guest-side addresses of the devices carried over: Vigil assigns its own, so only the count is worth a line.
  const addressed = devices.all().filter((d) => d.isUsed && !d.isSettled && d.all('address').some((a) => !a.isSettled));
  const addresses = addressed.flatMap((d) => d.all('address').filter((a) => !a.isSettled));
  const first = addressed[0];
  if (first) {
    log.group(
      '/domain/devices/*/address',
      first,
      addresses,
      `${addresses.length} guest-side device address${addresses.length > 1 ? 'es' : ''} (PCI slots, drive units) not carried over: Vigil assigns them, so names that depend on a slot (a NIC's enp1s0) may change in the guest`,
    );
  }
  return m.parts;
}

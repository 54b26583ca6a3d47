import assert from 'node:assert/strict';
import { test } from 'node:test';
import { vmDefinitionSchema, type VmDefinitionInput } from '../definition/schema.js';
import { buildQemuArgv } from './build.js';

function devices(input: Omit<VmDefinitionInput, 'name'>): string[] {
  const args = buildQemuArgv(vmDefinitionSchema.parse({ name: 'd', ...input }), {
    qemuBinary: 'qemu-system-x86_64',
    runtimeDir: '/run/d',
    stateDir: '/s/d',
    accel: 'kvm',
    macs: {},
    daemonize: false,
  });
  return args.flatMap((a, i) => (args[i - 1] === '-device' ? [a] : []));
}

test('vsock: vhost-vsock-pci with the guest CID', () => {
  assert.deepEqual(devices({ vsock: { cid: 12 } }), ['vhost-vsock-pci,id=vsock0,guest-cid=12']);
});

test('host USB: an xhci controller, then usb-host by vendor/product (0x hex) or by bus/port', () => {
  assert.deepEqual(
    devices({
      usb: [
        { id: 'webcam', vendor: '046D', product: '0x0825' },
        { bus: 1, port: '1.2' },
      ],
    }),
    ['qemu-xhci,id=xhci', 'usb-host,id=webcam,bus=xhci.0,vendorid=0x046d,productid=0x0825', 'usb-host,id=usb1,bus=xhci.0,hostbus=1,hostport=1.2'],
  );
  assert.deepEqual(devices({}), [], 'no controller without USB devices');
});

test('host PCI: vfio-pci with the full address', () => {
  assert.deepEqual(devices({ pci: [{ address: '01:00.0' }, { id: 'gpu-audio', address: '0000:01:00.1' }] }), ['vfio-pci,id=hostpci0,host=0000:01:00.0', 'vfio-pci,id=gpu-audio,host=0000:01:00.1']);
});

test('emulated devices: driver, id, then props in order (booleans as on/off, commas escaped)', () => {
  assert.deepEqual(
    devices({
      devices: [
        { driver: 'virtio-rng-pci' },
        { id: 'wdt', driver: 'i6300esb' },
        { driver: 'virtio-serial-pci', props: { max_ports: 4, ioeventfd: false, bus: 'pcie.0' } },
        { driver: 'pvpanic', props: { events: 3 } },
        { driver: 'usb-kbd', props: { port: '1,2' } },
      ],
    }),
    ['virtio-rng-pci,id=dev0', 'i6300esb,id=wdt', 'virtio-serial-pci,id=dev2,max_ports=4,ioeventfd=off,bus=pcie.0', 'pvpanic,id=dev3,events=3', 'usb-kbd,id=dev4,port=1,,2'],
  );
});

test('order: disks, NICs, vsock, USB, PCI, emulated devices', () => {
  assert.deepEqual(
    devices({ devices: [{ driver: 'virtio-rng-pci' }], pci: [{ address: '01:00.0' }], usb: [{ vendor: '046d', product: '0825' }], vsock: { cid: 3 }, disks: [{ file: '/i/a.qcow2' }] }),
    [
      'virtio-blk-pci,id=disk0,drive=blk0-format,write-cache=on',
      'vhost-vsock-pci,id=vsock0,guest-cid=3',
      'qemu-xhci,id=xhci',
      'usb-host,id=usb0,bus=xhci.0,vendorid=0x046d,productid=0x0825',
      'vfio-pci,id=hostpci0,host=0000:01:00.0',
      'virtio-rng-pci,id=dev0',
    ],
  );
});

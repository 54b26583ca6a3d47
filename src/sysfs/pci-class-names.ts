/** Names of PCI class codes as lspci prints them: sysfs has no name strings for PCI functions. */

// Subclass names (0xCCSS) for the classes a host commonly has; anything else falls back to the base class name.
const SUBCLASS_NAMES: Readonly<Record<number, string>> = {
  0x0000: 'Non-VGA unclassified device',
  0x0100: 'SCSI storage controller',
  0x0101: 'IDE interface',
  0x0104: 'RAID bus controller',
  0x0106: 'SATA controller',
  0x0107: 'Serial Attached SCSI controller',
  0x0108: 'Non-Volatile memory controller',
  0x0200: 'Ethernet controller',
  0x0207: 'InfiniBand controller',
  0x0280: 'Network controller',
  0x0300: 'VGA compatible controller',
  0x0302: '3D controller',
  0x0380: 'Display controller',
  0x0400: 'Multimedia video controller',
  0x0401: 'Multimedia audio controller',
  0x0402: 'Computer telephony device',
  0x0403: 'Audio device',
  0x0480: 'Multimedia controller',
  0x0500: 'RAM memory',
  0x0600: 'Host bridge',
  0x0601: 'ISA bridge',
  0x0604: 'PCI bridge',
  0x0700: 'Serial controller',
  0x0703: 'Modem',
  0x0780: 'Communication controller',
  0x0880: 'System peripheral',
  0x0900: 'Keyboard controller',
  0x0902: 'Mouse controller',
  0x0c00: 'FireWire (IEEE 1394)',
  0x0c03: 'USB controller',
  0x0c05: 'SMBus',
  0x0c80: 'Serial bus controller',
  0x0d11: 'Bluetooth',
  0x0d80: 'Wireless controller',
  0x1080: 'Encryption controller',
  0x1180: 'Signal processing controller',
  0x1200: 'Processing accelerators',
};

const CLASS_NAMES: Readonly<Record<number, string>> = {
  0x00: 'Unclassified device',
  0x01: 'Mass storage controller',
  0x02: 'Network controller',
  0x03: 'Display controller',
  0x04: 'Multimedia controller',
  0x05: 'Memory controller',
  0x06: 'Bridge',
  0x07: 'Communication controller',
  0x08: 'Generic system peripheral',
  0x09: 'Input device controller',
  0x0a: 'Docking station',
  0x0b: 'Processor',
  0x0c: 'Serial bus controller',
  0x0d: 'Wireless controller',
  0x0e: 'Intelligent controller',
  0x0f: 'Satellite communications controller',
  0x10: 'Encryption controller',
  0x11: 'Signal processing controller',
  0x12: 'Processing accelerators',
  0x13: 'Non-Essential Instrumentation',
  0x40: 'Coprocessor',
  0xff: 'Unassigned class',
};

/** The lspci name of a 24-bit PCI class code ("Audio device" for 0x040300); undefined when unknown. */
export function pciClassName(classCode: number | undefined): string | undefined {
  if (classCode === undefined) return undefined;
  return SUBCLASS_NAMES[classCode >> 8] ?? CLASS_NAMES[classCode >> 16];
}

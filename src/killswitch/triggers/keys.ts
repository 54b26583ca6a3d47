/**
 * Key names to evdev key codes, for the keys a kill switch combination is likely to use. The numbers are the
 * kernel's (include/uapi/linux/input-event-codes.h), a stable ABI; a key not in this table can be given as its
 * decimal code.
 */

const LETTER_ROWS: [string, number][] = [
  ['QWERTYUIOP', 16],
  ['ASDFGHJKL', 30],
  ['ZXCVBNM', 44],
];

function table(): Map<string, number> {
  const keys = new Map<string, number>();
  for (const [row, first] of LETTER_ROWS) [...row].forEach((c, i) => keys.set(`KEY_${c}`, first + i));
  for (let d = 1; d <= 9; d++) keys.set(`KEY_${d}`, d + 1);
  keys.set('KEY_0', 11);
  for (let f = 1; f <= 10; f++) keys.set(`KEY_F${f}`, 58 + f);
  keys.set('KEY_F11', 87);
  keys.set('KEY_F12', 88);
  for (let f = 13; f <= 24; f++) keys.set(`KEY_F${f}`, 170 + f);
  const named: Record<string, number> = {
    KEY_ESC: 1,
    KEY_MINUS: 12,
    KEY_EQUAL: 13,
    KEY_BACKSPACE: 14,
    KEY_TAB: 15,
    KEY_LEFTBRACE: 26,
    KEY_RIGHTBRACE: 27,
    KEY_ENTER: 28,
    KEY_LEFTCTRL: 29,
    KEY_SEMICOLON: 39,
    KEY_APOSTROPHE: 40,
    KEY_GRAVE: 41,
    KEY_LEFTSHIFT: 42,
    KEY_BACKSLASH: 43,
    KEY_COMMA: 51,
    KEY_DOT: 52,
    KEY_SLASH: 53,
    KEY_RIGHTSHIFT: 54,
    KEY_KPASTERISK: 55,
    KEY_LEFTALT: 56,
    KEY_SPACE: 57,
    KEY_CAPSLOCK: 58,
    KEY_NUMLOCK: 69,
    KEY_SCROLLLOCK: 70,
    KEY_KP7: 71,
    KEY_KP8: 72,
    KEY_KP9: 73,
    KEY_KPMINUS: 74,
    KEY_KP4: 75,
    KEY_KP5: 76,
    KEY_KP6: 77,
    KEY_KPPLUS: 78,
    KEY_KP1: 79,
    KEY_KP2: 80,
    KEY_KP3: 81,
    KEY_KP0: 82,
    KEY_KPDOT: 83,
    KEY_KPENTER: 96,
    KEY_RIGHTCTRL: 97,
    KEY_KPSLASH: 98,
    KEY_SYSRQ: 99,
    KEY_RIGHTALT: 100,
    KEY_HOME: 102,
    KEY_UP: 103,
    KEY_PAGEUP: 104,
    KEY_LEFT: 105,
    KEY_RIGHT: 106,
    KEY_END: 107,
    KEY_DOWN: 108,
    KEY_PAGEDOWN: 109,
    KEY_INSERT: 110,
    KEY_DELETE: 111,
    KEY_MUTE: 113,
    KEY_VOLUMEDOWN: 114,
    KEY_VOLUMEUP: 115,
    KEY_POWER: 116,
    KEY_PAUSE: 119,
    KEY_LEFTMETA: 125,
    KEY_RIGHTMETA: 126,
    KEY_COMPOSE: 127,
    KEY_MENU: 139,
    KEY_PRINT: 210,
    KEY_CAMERA: 212,
    KEY_MICMUTE: 248,
  };
  for (const [name, code] of Object.entries(named)) keys.set(name, code);
  return keys;
}

/** Every named key this table knows, name -> code. */
export const KEY_CODES: ReadonlyMap<string, number> = table();

/** Highest key code the kernel defines (KEY_MAX). */
export const KEY_MAX = 0x2ff;

/** One key of a combination: a name from the table (`KEY_K`, case-insensitive, `KEY_` optional) or a decimal code. */
export function keyCode(name: string): number | undefined {
  const trimmed = name.trim();
  if (/^\d+$/.test(trimmed)) {
    const code = Number(trimmed);
    return code > 0 && code <= KEY_MAX ? code : undefined;
  }
  const upper = trimmed.toUpperCase();
  return KEY_CODES.get(upper.startsWith('KEY_') ? upper : `KEY_${upper}`);
}

/** Parses `KEY_LEFTCTRL+KEY_LEFTALT+KEY_K`; throws an Error naming the unknown key. */
export function parseCombo(combo: string): number[] {
  const parts = combo.split('+').map((p) => p.trim());
  if (parts.length === 0 || parts.some((p) => p === '')) throw new Error(`"${combo}" is not a key combination; write it like KEY_LEFTCTRL+KEY_LEFTALT+KEY_K`);
  const codes = parts.map((p) => {
    const code = keyCode(p);
    if (code === undefined) throw new Error(`unknown key "${p}"; use a name like KEY_LEFTCTRL or KEY_K, or the key's decimal code`);
    return code;
  });
  if (new Set(codes).size !== codes.length) throw new Error(`"${combo}" names a key twice`);
  return codes;
}

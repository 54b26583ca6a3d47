/**
 * The `killswitch.triggers` list of config.yaml: which triggers vigild starts, each validated at the edge
 * (unknown fields refused, a bad cron expression or key name reported with the fix).
 */
import { Cron } from 'croner';
import { z } from 'zod';
import { parseCombo } from './keys.js';

const action = z.enum(['engage', 'release', 'toggle']);

const cronExpr = z
  .string()
  .min(1)
  .superRefine((expr, ctx) => {
    try {
      new Cron(expr, { paused: true }).stop();
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `not a cron expression (${err instanceof Error ? err.message : String(err)}); write e.g. "0 22 * * *" or, with seconds, "*/10 * * * * *"` });
    }
  });

const timezone = z.string().refine(
  (tz) => {
    try {
      new Intl.DateTimeFormat('en', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  },
  { message: 'not an IANA time zone; write e.g. Europe/Berlin or UTC' },
);

const combo = z.string().superRefine((text, ctx) => {
  try {
    parseCombo(text);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
  }
});

const common = {
  /** A name for logs and listings. */
  name: z.string().min(1).max(64).optional(),
};

/** A trigger file: present means engaged, removed means released. */
export const fileTriggerSchema = z.strictObject({
  type: z.literal('file'),
  ...common,
  /** The file to watch (default: `killswitch.trigger` in Vigil's runtime directory). */
  path: z.string().min(1).optional(),
  /** How often the file is stat'ed as well, because fs.watch can miss events. */
  pollMs: z.number().int().min(50).max(60000).default(1000),
});

/** Cron schedules; at least one of engage, release, toggle. */
export const scheduleTriggerSchema = z
  .strictObject({
    type: z.literal('schedule'),
    ...common,
    engage: cronExpr.optional(),
    release: cronExpr.optional(),
    toggle: cronExpr.optional(),
    /** IANA zone the expressions are read in (default: the host's). */
    timezone: timezone.optional(),
    /**
     * With both engage and release: at start, put the switch where the schedule says it should be now (the later
     * of the last engage and the last release time), so a vigild restarted inside an engaged window engages.
     */
    applyAtStart: z.boolean().default(true),
  })
  .refine((s) => s.engage !== undefined || s.release !== undefined || s.toggle !== undefined, {
    message: 'a schedule trigger needs at least one of engage, release, toggle (cron expressions)',
  });

/** A key combination read from evdev keyboards. */
export const hotkeyTriggerSchema = z.strictObject({
  type: z.literal('hotkey'),
  ...common,
  /** Keys held together, e.g. KEY_LEFTCTRL+KEY_LEFTALT+KEY_K. */
  keys: combo,
  action: action.default('toggle'),
  /** /dev/input/event* paths; none: every input device that can send all the keys of the combination. */
  devices: z.array(z.string().min(1)).optional(),
  /** How often a missing device is reopened (and, auto-detecting, keyboards are looked for again). */
  reopenMs: z.number().int().min(20).max(60000).default(1000),
  debounceMs: z.number().int().min(0).max(60000).default(500),
});

const edgeAction = z.enum(['engage', 'release', 'toggle', 'none']);

/** A GPIO line watched through libgpiod's gpiomon. */
export const gpioTriggerSchema = z
  .strictObject({
    type: z.literal('gpio'),
    ...common,
    /** Chip name, number or path as gpiomon takes it (gpiochip0, 0, /dev/gpiochip0). */
    chip: z.string().min(1),
    /** Line offset on the chip. */
    line: z.number().int().min(0).max(1023),
    rising: edgeAction.default('none'),
    falling: edgeAction.default('none'),
    activeLow: z.boolean().default(false),
    bias: z.enum(['as-is', 'disable', 'pull-up', 'pull-down']).optional(),
    /** Repeats of the same action closer than this are dropped (contact bounce). */
    debounceMs: z.number().int().min(0).max(60000).default(200),
    /** The gpiomon executable (a name searched in PATH, or a path). */
    command: z.string().min(1).default('gpiomon'),
    /** Wait before restarting gpiomon when it exits. */
    restartMs: z.number().int().min(20).max(600000).default(2000),
  })
  .refine((g) => g.rising !== 'none' || g.falling !== 'none', {
    message: 'a gpio trigger needs an action on rising or falling (engage, release or toggle)',
  });

/** One configured trigger. */
export const triggerConfigSchema = z.discriminatedUnion('type', [fileTriggerSchema, scheduleTriggerSchema, hotkeyTriggerSchema, gpioTriggerSchema]);

/** The `killswitch.triggers` list. */
export const triggersConfigSchema = z.array(triggerConfigSchema);

/** Validated trigger settings, defaults filled in. */
export type TriggerConfig = z.output<typeof triggerConfigSchema>;
/** A validated file trigger. */
export type FileTriggerConfig = z.output<typeof fileTriggerSchema>;
/** A validated schedule trigger. */
export type ScheduleTriggerConfig = z.output<typeof scheduleTriggerSchema>;
/** A validated hotkey trigger. */
export type HotkeyTriggerConfig = z.output<typeof hotkeyTriggerSchema>;
/** A validated GPIO trigger. */
export type GpioTriggerConfig = z.output<typeof gpioTriggerSchema>;

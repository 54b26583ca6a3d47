/**
 * The `killswitch:` section of a VM definition: which devices the kill switch cuts, how it escalates when a
 * guest will not let go of one, and the deadline. Kept small on purpose; everything has a default.
 */
import { z } from 'zod';

/** Escalation steps, mildest first. */
export const ESCALATION_STEPS = ['pause', 'poweroff', 'kill'] as const;
/** One escalation step. */
export type EscalationStep = (typeof ESCALATION_STEPS)[number];

/** Device classes a selector may name (those of the host inventory). */
export const DEVICE_CLASSES = ['camera', 'audio', 'network', 'bluetooth', 'storage', 'input', 'display', 'other'] as const;

const SELECTOR = /^(class:(camera|audio|network|bluetooth|storage|input|display|other)|[a-zA-Z][a-zA-Z0-9_.-]{0,31})$/;

/** The section's schema. */
export const killswitchSectionSchema = z.strictObject({
  /** `all`, or device ids and `class:<class>` selectors (camera, audio, network, input, ...). */
  devices: z
    .union([z.literal('all'), z.array(z.string().regex(SELECTOR, 'write a device id (cam0) or a class selector (class:camera, class:audio, class:network, ...)'))])
    .default('all'),
  /** What to do, in order, when a device is not confirmed cut within the deadline (an empty list: only report). */
  escalation: z
    .array(z.enum(ESCALATION_STEPS))
    .default(['pause', 'poweroff', 'kill'])
    .refine((steps) => new Set(steps).size === steps.length, 'each escalation step may appear once'),
  /** How long a device may take to be confirmed cut before escalation starts. */
  deadlineMs: z.number().int().min(10).max(60000).default(500),
  /** Engaged by the guardian when vigild dies without a clean shutdown. */
  failsafe: z.boolean().default(false),
});

/** A validated section, defaults filled in. */
export type KillswitchSection = z.output<typeof killswitchSectionSchema>;

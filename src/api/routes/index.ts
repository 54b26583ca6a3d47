/** Every REST route, in the order they appear in the OpenAPI document. */
import type { RouteSpec } from '../context.js';
import { accessRoutes } from './access.js';
import { hostRoutes } from './host.js';
import { killswitchRoutes } from './killswitch.js';
import { imageRoutes } from './images.js';
import { monitoringRoutes } from './monitoring.js';
import { sessionRoutes } from './session.js';
import { snapshotRoutes } from './snapshots.js';
import { vmRoutes } from './vms.js';
import { vmiRoutes } from './vmi.js';

/** All route specs. */
export function allRoutes(): RouteSpec[] {
  return [...hostRoutes(), ...sessionRoutes(), ...vmRoutes(), ...snapshotRoutes(), ...imageRoutes(), ...monitoringRoutes(), ...accessRoutes(), ...killswitchRoutes(), ...vmiRoutes()];
}

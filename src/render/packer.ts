import type { HostPlan } from '../plan/model.ts';
import type { Artifact } from './artifact.ts';

/** Packer template and provisioner scripts that bake the same tuning into a golden image. */
export function renderPacker(_plan: HostPlan, _header: string, _hostFiles: readonly Artifact[], _slimUserData: Artifact): Artifact[] {
  return [];
}

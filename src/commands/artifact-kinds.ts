/** Artifact kinds `--artifact` accepts, in the order the README lists them. */
export const ARTIFACT_KINDS = ['user-data', 'sysctl', 'limits', 'service-dropin', 'sysctl-apply', 'first-boot-step', 'hide-instance-names', 'udev-txqueuelen', 'netplan', 'preseed', 'packer-template', 'packer-scripts', 'packer-seed', 'packer-user-data'] as const;
export type ArtifactKind = (typeof ARTIFACT_KINDS)[number];

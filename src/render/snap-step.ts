/**
 * The LXD snap at the profile's channel ($1): installed when absent, refreshed when the image has
 * it on an older track (Ubuntu images carry one; `snap install` would leave it as it is), left
 * alone on the same track, and never moved to an older one: LXD cannot take its database back
 * a version, so that fails the step with what to change. One script for first boot (user-data)
 * and the Packer image (packer-install-manager.sh), run as `sh -c SCRIPT born-tuned-snap CHANNEL`. `latest` counts as newer than any
 * numbered track.
 */
export const SNAP_INSTALL_OR_REFRESH = [
  'want=$1',
  "have=$(snap list lxd 2>/dev/null | awk 'NR == 2 { print $4 }')",
  'if [ -z "$have" ]; then exec snap install lxd --channel="$want"; fi',
  'have_track=${have%%/*}',
  'want_track=${want%%/*}',
  'if [ "$have_track" = "$want_track" ]; then exec snap refresh lxd --channel="$want"; fi',
  'newer=$(printf \'%s\\n\' "$have_track" "$want_track" | sed \'s/^latest$/999999/\' | sort -V | tail -n 1)',
  'if [ "$newer" = "$want_track" ]; then exec snap refresh lxd --channel="$want"; fi',
  'echo "born-tuned: the lxd snap tracks $have, newer than the profile\'s $want: not moved back (LXD cannot downgrade its database); set manager.version to $have_track or remove the snap" >&2',
  'exit 1',
].join('\n');

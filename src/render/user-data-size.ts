import type { Diagnostic } from '../diagnostics/diagnostic.ts';
import type { Artifact, Encoding } from './artifact.ts';
import { encodeUserData } from './encode.ts';

/**
 * A cloud's cap on user-data, as the bytes the instance receives (the payload: gen's output with any
 * base64 layer taken off, since every one of these APIs takes base64 and decodes it). A cap that
 * its documentation states on the base64 text is converted: n bytes are ceil(n/3)*4 in base64.
 */
interface UserDataLimit {
  /** How the message names it. */
  platform: string;
  /** The largest payload accepted. */
  payload: number;
  /** The cap as documented, when it is not stated on the payload. */
  documented?: string;
  source: string;
}

/**
 * The caps of the clouds cloud-init is most often fed by, smallest first. A NoCloud seed (ISO or
 * directory) and LXD/Incus's cloud-init.user-data have none, so gen only warns.
 */
const USER_DATA_LIMITS: readonly UserDataLimit[] = [
  // "User data is limited to 16 KB, in raw form, before it is base64-encoded."
  { platform: 'AWS EC2', payload: 16384, source: 'https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-add-user-data.html' },
  // "The provided user data must be base64 encoded and is restricted to 65535 bytes."
  {
    platform: 'OpenStack Nova',
    payload: Math.floor(65535 / 4) * 3,
    documented: '65535 as base64',
    source: 'https://docs.openstack.org/nova/stein/user/user-data.html',
  },
  // "The maximum length of the binary array is 65535 bytes" (osProfile.customData; the guide at
  // https://learn.microsoft.com/en-us/azure/virtual-machines/custom-data says "can't exceed 64 KB").
  {
    platform: 'Azure custom data',
    payload: 65535,
    source: 'https://learn.microsoft.com/en-us/dotnet/api/azure.resourcemanager.computeschedule.models.virtualmachineosprofile.customdata',
  },
  // A metadata value: "their size must be less than or equal to 262144 bytes (256 KiB)".
  { platform: 'GCE metadata', payload: 262144, source: 'https://cloud.google.com/php/docs/reference/cloud-compute/latest/V1.Items' },
];

/** The smallest cap: user-data at or under it fits every cloud above. */
const SMALLEST = Math.min(...USER_DATA_LIMITS.map((l) => l.payload));

/** A user-data's size as delivered, and what the fixes would make of it (computed only for a warning). */
export interface UserDataSize {
  /** Its path in an output tree (`user-data`, `packer/user-data`, `HOST/seed/user-data`). */
  path: string;
  /** The bytes the instance receives: after gzip, before base64. */
  payload: number;
  encoding: Encoding;
  /** The payload gzipped, when it is not already; packer/user-data's payload, for a user-data that
   * has one (hosts made from the Packer image boot with it instead). */
  alternatives: () => { gzip?: number; packer?: number };
}

/** The bytes an instance receives of an encoded user-data: its gzip when gzipped, never the base64. */
export function payloadBytes(a: Artifact): number {
  switch (a.encoding ?? 'plain') {
    case 'plain':
    case 'base64':
      return Buffer.byteLength(a.text, 'utf8');
    case 'gzip':
      return a.bytes!.length;
    case 'gzip+base64':
      return Buffer.from(Buffer.from(a.bytes!).toString('latin1'), 'base64').length;
  }
}

/** The size of user-data artifact `a`; `packer` gives the payload of the baked image's user-data. */
export function userDataSize(a: Artifact, packer?: () => number): UserDataSize {
  const encoding = a.encoding ?? 'plain';
  let alternatives: ReturnType<UserDataSize['alternatives']> | undefined;
  return {
    path: a.path,
    payload: payloadBytes(a),
    encoding,
    alternatives: () =>
      (alternatives ??= {
        ...(encoding.startsWith('gzip') ? {} : { gzip: encodeUserData(a.text, 'gzip').length }),
        ...(packer ? { packer: packer() } : {}),
      }),
  };
}

/** Whether a payload of `bytes` is over the smallest cap. */
export function overSmallestLimit(bytes: number): boolean {
  return bytes > SMALLEST;
}

/**
 * The USER_DATA_SIZE warning for a user-data (`subject` names it) larger than the smallest cap:
 * its size, the caps it is over, and what each fix makes of it. Nothing when it fits them all.
 */
export function userDataSizeWarning(subject: string, size: UserDataSize): Diagnostic[] {
  if (!overSmallestLimit(size.payload)) return [];
  const over = (bytes: number) => USER_DATA_LIMITS.filter((l) => bytes > l.payload);
  const named = (limits: readonly UserDataLimit[]) =>
    limits.map((l) => `${l.platform} (${l.payload}${l.documented ? `: ${l.documented}` : ''})`).join(', ');
  const verdict = (bytes: number) => {
    const still = over(bytes);
    return still.length === 0 ? 'under every cap' : `still over ${still.map((l) => l.platform).join(', ')}`;
  };
  const { gzip, packer } = size.alternatives();
  const fixes = [
    ...(gzip !== undefined
      ? [`--encoding ${size.encoding === 'base64' ? 'gzip+base64' : 'gzip'} makes it ${gzip} bytes (${verdict(gzip)})`]
      : []),
    ...(packer !== undefined
      ? [
          `hosts made from the Packer image (gen --profile … --out DIR writes it under packer/) boot with packer/user-data: ${packer} bytes (${verdict(packer)})`,
        ]
      : []),
  ];
  const as =
    size.encoding === 'plain'
      ? ''
      : size.encoding === 'base64'
        ? ' before base64'
        : size.encoding === 'gzip'
          ? ' gzipped'
          : ' gzipped, before base64';
  return [
    {
      severity: 'warning',
      code: 'USER_DATA_SIZE',
      message:
        `${subject} is ${size.payload} bytes${as}, over the user-data cap in bytes of ${named(over(size.payload))} (a NoCloud seed and LXD/Incus's cloud-init.user-data have none)` +
        (fixes.length > 0 ? `; ${fixes.join('; or ')}` : ''),
    },
  ];
}

import { contains, notAHostAddress, parseInterface, parseIp } from './ip.ts';

/** A problem with one NIC's static addressing, at a path inside the NIC's entry. */
interface AddressingProblem {
  path: (string | number)[];
  message: string;
}

/**
 * What a real network would refuse in one NIC's addressing (profiles and inventories alike):
 * an address that is its subnet's network or broadcast address, and a gateway that is in none of
 * the NIC's subnets (the kernel cannot reach it, so the default route fails at boot).
 */
export function addressingProblems(nic: { addresses?: string[] | undefined; gateway?: string | undefined }): AddressingProblem[] {
  const problems: AddressingProblem[] = [];
  const subnets = (nic.addresses ?? []).map((a) => parseInterface(a)!);
  subnets.forEach((i, k) => {
    const why = notAHostAddress(i);
    if (why)
      problems.push({
        path: ['addresses', k],
        message: `${nic.addresses![k]} is ${why}, which no host can use: give the NIC an address inside the subnet`,
      });
  });
  if (nic.gateway !== undefined && subnets.length > 0) {
    const gateway = parseIp(nic.gateway)!;
    const sameFamily = subnets.filter((i) => i.family === gateway.family);
    if (!sameFamily.some((i) => contains(i, gateway))) {
      problems.push({
        path: ['gateway'],
        message:
          sameFamily.length === 0
            ? `gateway ${nic.gateway} is an IPv${gateway.family} address, but the NIC has no IPv${gateway.family} address to reach it from: add one, or use a gateway of the NIC's family`
            : `gateway ${nic.gateway} is outside the NIC's subnet${sameFamily.length > 1 ? 's' : ''} (${(nic.addresses ?? []).filter((a) => parseInterface(a)!.family === gateway.family).join(', ')}): the host could not reach it; use a gateway inside the subnet or fix the prefix length`,
      });
    }
  }
  return problems;
}

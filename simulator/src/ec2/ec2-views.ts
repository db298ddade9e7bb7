/** The XML structures EC2 returns for instances, state changes, statuses and addresses. */
import { createHash } from 'node:crypto';
import type { Cloud, FloatingAddress } from '../cloud/cloud.ts';
import { ec2State } from '../cloud/ec2-state.ts';
import type { LifecycleState } from '../cloud/lifecycle.ts';
import type { Vm } from '../cloud/vm.ts';
import type { XmlValue } from './ec2-xml.ts';

/** The account every simulated EC2 resource belongs to. */
export const ownerId = '123456789012';

/** EC2 timestamps: ISO 8601 with milliseconds. */
const ec2Time = (ms: number): string => new Date(ms).toISOString();

/** "User initiated (2025-01-01 12:00:00 GMT)", as EC2 words `stateTransitionReason`. */
const userInitiated = (ms: number): string => `User initiated (${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} GMT)`;

/** A stable fake VPC id for a subnet. */
export function vpcIdOf(subnetId: string): string {
  return `vpc-${createHash('sha256').update(subnetId).digest('hex').slice(0, 17)}`;
}

function dnsLabel(address: string): string {
  return address.replaceAll('.', '-');
}

function stateXml(state: LifecycleState): XmlValue {
  const { code, name } = ec2State(state);
  return { code, name };
}

/** One `instancesSet` item; `clientToken` is the RunInstances token it was launched with, if any. */
export function instanceXml(vm: Readonly<Vm>, cloud: Cloud, clientToken = ''): XmlValue {
  const state = ec2State(vm.state);
  const privateAddress = vm.addresses.find((address) => address.kind === 'fixed');
  const publicAddress = vm.addresses.find((address) => address.kind === 'floating');
  const network = cloud.networks.find((candidate) => candidate.name === (privateAddress?.network ?? cloud.networks[0]?.name));
  const subnetId = network?.id ?? '';
  const stopped = state.name === 'stopped' || state.name === 'stopping' || state.name === 'terminated' || state.name === 'shutting-down';
  const userReason = stopped && !vm.fault;
  return {
    instanceId: vm.id,
    imageId: vm.imageId,
    instanceState: stateXml(vm.state),
    privateDnsName: privateAddress ? `ip-${dnsLabel(privateAddress.address)}.ec2.internal` : '',
    dnsName: publicAddress ? `ec2-${dnsLabel(publicAddress.address)}.compute-1.amazonaws.com` : '',
    reason: userReason ? userInitiated(vm.updatedAt) : vm.fault ? vm.fault.message : '',
    keyName: vm.keyName ?? undefined,
    amiLaunchIndex: vm.launchIndex,
    productCodes: [],
    instanceType: vm.flavorId,
    launchTime: ec2Time(vm.launchedAt ?? vm.createdAt),
    placement: { availabilityZone: vm.zone, groupName: '', tenancy: 'default' },
    monitoring: { state: 'disabled' },
    subnetId: state.name === 'terminated' ? undefined : subnetId,
    vpcId: state.name === 'terminated' ? undefined : vpcIdOf(subnetId),
    privateIpAddress: privateAddress?.address,
    ipAddress: publicAddress?.address,
    sourceDestCheck: true,
    groupSet: [{ groupId: `sg-${vpcIdOf(subnetId).slice(4)}`, groupName: 'default' }],
    stateReason: vm.fault
      ? { code: 'Server.InternalError', message: `Server.InternalError: ${vm.fault.message}` }
      : userReason
        ? { code: 'Client.UserInitiatedShutdown', message: 'Client.UserInitiatedShutdown: User initiated shutdown' }
        : undefined,
    architecture: 'x86_64',
    rootDeviceType: 'ebs',
    rootDeviceName: '/dev/xvda',
    blockDeviceMapping: [],
    virtualizationType: 'hvm',
    clientToken,
    tagSet: vm.tags.length === 0 ? undefined : vm.tags.map((tag) => ({ key: tag.key, value: tag.value })),
    hypervisor: 'xen',
    ebsOptimized: false,
    enaSupport: true,
  };
}

/** Groups instances (kept in order) into `reservationSet` items. */
export function reservationsXml(vms: readonly Readonly<Vm>[], cloud: Cloud, tokenOf: (vm: Readonly<Vm>) => string): XmlValue[] {
  const reservations: { id: string; vms: Readonly<Vm>[] }[] = [];
  for (const vm of vms) {
    const last = reservations.at(-1);
    if (last?.id === vm.reservationId) last.vms.push(vm);
    else reservations.push({ id: vm.reservationId, vms: [vm] });
  }
  return reservations.map((reservation) => ({ reservationId: reservation.id, ownerId, groupSet: [], instancesSet: reservation.vms.map((vm) => instanceXml(vm, cloud, tokenOf(vm))) }));
}

/** One item of a Start/Stop/TerminateInstances response. */
export function stateChangeXml(vm: Readonly<Vm>, previous: LifecycleState): XmlValue {
  return { instanceId: vm.id, currentState: stateXml(vm.state), previousState: stateXml(previous) };
}

/** What EC2's instance status check sees of a guest: whether it answers. Undefined when the VM runs no simulated agent. */
export type GuestProbe = (vmId: string) => { readonly hung?: boolean | undefined } | undefined;

/** One status check's summary (`ok`, `impaired`, …) and its `reachability` detail. */
export interface StatusCheck {
  readonly status: 'ok' | 'impaired' | 'initializing' | 'not-applicable';
  readonly reachability?: 'passed' | 'failed' | 'initializing';
}

/** The system (host) and instance (guest) checks of one instance. */
export interface StatusChecks {
  readonly system: StatusCheck;
  readonly instance: StatusCheck;
}

const check = (healthy: boolean): StatusCheck => (healthy ? { status: 'ok', reachability: 'passed' } : { status: 'impaired', reachability: 'failed' });

/**
 * EC2's status checks: not-applicable unless running, initializing until they first ran
 * (`statusChecksAfter` after launch), then the system check fails on a host that is down and the
 * instance check on a guest that hangs. A guest whose agent is merely cut off from the bus passes:
 * EC2 probes the VM from its host, not over Defib's network.
 */
export function statusChecks(vm: Readonly<Vm>, cloud: Cloud, guests: GuestProbe): StatusChecks {
  if (ec2State(vm.state).name !== 'running') return { system: { status: 'not-applicable' }, instance: { status: 'not-applicable' } };
  const checkedAt = (vm.launchedAt ?? vm.createdAt) + cloud.timings.statusChecksAfter / cloud.speedFactor;
  if (cloud.now() < checkedAt) return { system: { status: 'initializing', reachability: 'initializing' }, instance: { status: 'initializing', reachability: 'initializing' } };
  return { system: check(!cloud.isHostDown(vm.host)), instance: check(guests(vm.id)?.hung !== true) };
}

function checkXml(summary: StatusCheck): XmlValue {
  return { status: summary.status, details: summary.reachability ? [{ name: 'reachability', status: summary.reachability }] : undefined };
}

/** System and instance status of one instance. */
export function instanceStatusXml(vm: Readonly<Vm>, cloud: Cloud, guests: GuestProbe): XmlValue {
  const checks = statusChecks(vm, cloud, guests);
  return { instanceId: vm.id, availabilityZone: vm.zone, instanceState: stateXml(vm.state), systemStatus: checkXml(checks.system), instanceStatus: checkXml(checks.instance) };
}

/** One `addressesSet` item. */
export function addressXml(address: FloatingAddress, cloud: Cloud): XmlValue {
  const vm = address.vmId ? cloud.get(address.vmId) : undefined;
  const fixed = vm?.addresses.find((candidate) => candidate.kind === 'fixed' && candidate.network === address.network);
  return {
    publicIp: address.address,
    allocationId: address.id,
    domain: 'vpc',
    instanceId: vm?.id,
    associationId: address.associationId ?? undefined,
    networkInterfaceOwnerId: vm ? ownerId : undefined,
    privateIpAddress: fixed?.address,
    publicIpv4Pool: 'amazon',
    networkBorderGroup: cloud.region,
  };
}

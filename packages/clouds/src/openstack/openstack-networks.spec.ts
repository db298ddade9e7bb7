import { describe, expect, it } from 'vitest';
import { CloudError } from '../driver/cloud-error.ts';
import { defaultNetwork, namedNetwork, type NeutronNetwork } from './openstack-networks.ts';

const privateNet: NeutronNetwork = { id: '11111111-1111-4111-8111-111111111111', name: 'private', external: false };
const publicNet: NeutronNetwork = { id: '22222222-2222-4222-8222-222222222222', name: 'public', external: true };
const twin: NeutronNetwork = { id: '33333333-3333-4333-8333-333333333333', name: 'private', external: false };

function refusal(run: () => unknown): CloudError {
  try {
    run();
  } catch (error) {
    if (error instanceof CloudError) return error;
  }
  throw new Error('no CloudError');
}

describe('defaultNetwork', () => {
  it('takes the one network a server can join, leaving external networks aside', () => {
    expect(defaultNetwork('c', 'launch', [privateNet, publicNet])).toEqual([{ uuid: privateNet.id }]);
  });

  it('lets Nova allocate one when the project sees none it can join', () => {
    expect(defaultNetwork('c', 'launch', [publicNet])).toBe('auto');
  });
});

describe('namedNetwork', () => {
  it('finds a network by id even when another is named like it', () => {
    expect(namedNetwork('c', 'launch', twin.id, [{ ...privateNet, name: twin.id }, twin])).toEqual([{ uuid: twin.id }]);
  });

  it('refuses a name two networks share, and says when none has it', () => {
    expect(refusal(() => namedNetwork('c', 'launch', 'private', [privateNet, twin])).detail).toBe(`several networks are named private (private (${privateNet.id}), private (${twin.id})): name the network by its id`);
    expect(refusal(() => namedNetwork('c', 'launch', 'lab', []))).toMatchObject({ kind: 'not-found', detail: 'no network named lab is visible to the project' });
  });
});

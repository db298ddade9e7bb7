/** Test helpers for code that uses cloud drivers: `@defib/clouds/testing`, never imported by services. */
import { CloudError } from './driver/cloud-error.ts';

/** The CloudError `promise` rejects with; fails if it succeeds or rejects with anything else. */
export async function cloudFailure(promise: Promise<unknown>): Promise<CloudError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof CloudError) return error;
    throw error;
  }
  throw new Error('the call succeeded');
}

/**
 * Checking what a user registers and applies against the cloud itself, so that a wrong password
 * or an image the cloud does not have is said at once, not found out never: a registration the
 * cloud refuses is a 422 naming the problem (the credentials are never echoed), and a manifest
 * naming an image, flavor or network the cloud does not offer is a 400 naming the field and what
 * the cloud does offer. When the cloud cannot be reached or is throttling, the request is accepted
 * with a warning and the check is repeated at launch.
 */
import { isCloudError, type CloudDriverFactory, type CloudError, type CloudOfferings } from '@defib/clouds';
import { AppError, type FieldIssue } from '@defib/platform';
import type { CloudRegistration, Manifest } from '@defib/contracts';

export interface CloudChecks {
  /**
   * Proves a registration works before it is stored. Throws a 422 when the cloud refuses it;
   * returns warnings when the cloud could not be asked.
   */
  registration(name: string, registration: CloudRegistration): Promise<string[]>;
  /** The manifest's fields naming what the cloud does not offer, and warnings when it could not be asked. */
  manifest(cloud: string, registration: CloudRegistration, manifest: Manifest): Promise<{ issues: FieldIssue[]; warnings: string[] }>;
}

/** How many of the cloud's names an issue lists before saying how many more there are. */
const OFFERED_NAMES_SHOWN = 20;

/** Ids are taken as given (a Glance or Neutron UUID, an EC2 `ami-…`): only names are checked. */
const PROVIDER_ID = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|ami-[0-9a-f]{8,17})$/i;

function unreachableWarning(cloud: string, what: string, error: CloudError): string {
  return `could not reach cloud ${cloud} to check ${what} (${error.detail}); it is checked again at launch`;
}

function offeredList(names: readonly string[]): string {
  if (names.length === 0) return 'it offers none';
  const shown = [...names].sort().slice(0, OFFERED_NAMES_SHOWN).join(', ');
  return names.length > OFFERED_NAMES_SHOWN ? `it offers ${shown} and ${names.length - OFFERED_NAMES_SHOWN} more` : `it offers ${shown}`;
}

/** The manifest's fields that name something the cloud does not offer. */
export function offeringIssues(cloud: string, manifest: Manifest, offerings: CloudOfferings): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const check = (path: string, kind: string, wanted: string | undefined, offered: readonly string[] | undefined) => {
    if (wanted === undefined || offered === undefined || PROVIDER_ID.test(wanted) || offered.includes(wanted)) return;
    issues.push({ path, message: `cloud ${cloud} has no ${kind} named "${wanted}"; ${offeredList(offered)}` });
  };
  manifest.assemblies.forEach((assembly, index) => {
    check(`assemblies[${index}].image`, 'image', assembly.image, offerings.images);
    check(`assemblies[${index}].flavor`, 'flavor', assembly.flavor, offerings.flavors);
    const network = assembly.network === 'auto' || assembly.network === 'none' ? undefined : assembly.network;
    check(`assemblies[${index}].network`, 'network', network, offerings.networks);
  });
  return issues;
}

export function createCloudChecks(drivers: CloudDriverFactory): CloudChecks {
  return {
    async registration(name, registration) {
      const driver = drivers.trial(name, registration);
      try {
        await driver.checkAccess();
        return [];
      } catch (error) {
        if (!isCloudError(error)) throw error;
        if (error.transient) return [unreachableWarning(name, 'the registration', error)];
        const problem = error.kind === 'auth' ? `the cloud refused the credentials (${error.detail})` : error.detail;
        throw AppError.unprocessable(`cloud ${name} cannot be used as registered: ${problem}`, { cause: error });
      } finally {
        driver.close();
      }
    },

    async manifest(cloud, registration, manifest) {
      let offerings: CloudOfferings;
      try {
        offerings = await drivers(cloud, registration).offerings();
      } catch (error) {
        if (!isCloudError(error)) throw error;
        if (error.transient) return { issues: [], warnings: [unreachableWarning(cloud, 'the images and flavors the manifest names', error)] };
        throw AppError.unprocessable(`cloud ${cloud} did not list what it offers: ${error.detail}`, { cause: error });
      }
      return { issues: offeringIssues(cloud, manifest, offerings), warnings: [] };
    },
  };
}

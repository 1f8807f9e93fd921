import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { DestinationConfig } from '../../functions/core/config';
import { type PlatformRegistry, type PlatformSpec, specOf } from '../../functions/core/platform';
import { propError } from './checks';

export interface DestinationSecretsProps {
  /** The config's destinations, by id. */
  readonly destinations: Readonly<Record<string, DestinationConfig>>;
  /** The platforms the destinations may name (functions/platforms/registry.ts). */
  readonly platforms: PlatformRegistry;
  /**
   * Customer-managed key for the secrets this creates. Secrets imported by name keep whatever key they have.
   * @default - the AWS-managed key aws/secretsmanager
   */
  readonly encryptionKey?: kms.IKey;
}

/** One destination's secret. */
export interface DestinationSecret {
  readonly destinationId: string;
  readonly spec: PlatformSpec;
  readonly secret: secretsmanager.ISecret;
  /** The destination named an existing secret in its config (`spec.secret.nameField`), imported by name. */
  readonly imported: boolean;
}

/**
 * One Secrets Manager secret per destination of the config, each a child whose id is the destination id
 * (`DestinationSecrets/<destination id>`). A destination that names a secret in its config (Meta `tokenSecretName`,
 * Google `keySecretName`: the platform's `secret.nameField`) gets that secret, imported by name; any other gets one
 * created under the platform's default name (`secret.defaultName(id)`) holding a placeholder until a person stores the
 * credentials. Nothing is granted here: hand `secrets` to the function that reads them.
 */
export class DestinationSecrets extends Construct {
  /** By destination id, in config order. */
  public readonly byDestination: Readonly<Record<string, DestinationSecret>>;

  constructor(scope: Construct, id: string, props: DestinationSecretsProps) {
    super(scope, id);
    const out: Record<string, DestinationSecret> = {};
    for (const [destinationId, dest] of Object.entries(props.destinations)) {
      const spec = specOf(props.platforms, dest.platform);
      const named = dest[spec.secret.nameField];
      if (named !== undefined) {
        out[destinationId] = {
          destinationId,
          spec,
          imported: true,
          secret: this.importByName(destinationId, spec.secret.nameField, named),
        };
      } else {
        out[destinationId] = {
          destinationId,
          spec,
          imported: false,
          secret: this.create(destinationId, spec, props.encryptionKey),
        };
      }
    }
    this.byDestination = out;
  }

  /** Destination id → secret, for `HouseFunction.useDestinationSecrets`. */
  public get secrets(): Record<string, secretsmanager.ISecret> {
    return Object.fromEntries(Object.entries(this.byDestination).map(([id, d]) => [id, d.secret]));
  }

  private importByName(destinationId: string, field: string, name: unknown): secretsmanager.ISecret {
    if (typeof name !== 'string' || !/^[A-Za-z0-9/_+=.@-]{1,512}$/.test(name)) {
      throw propError(
        this,
        `destination "${destinationId}": ${field} must be a secret name of letters, digits and /_+=.@- only; received ${JSON.stringify(name)}.`,
      );
    }
    return secretsmanager.Secret.fromSecretNameV2(this, destinationId, name);
  }

  private create(destinationId: string, spec: PlatformSpec, key: kms.IKey | undefined): secretsmanager.Secret {
    const secretName = spec.secret.defaultName(destinationId);
    const secret = new secretsmanager.Secret(this, destinationId, {
      secretName,
      description: `${spec.displayName} credentials of audience-sync destination ${destinationId}: ${spec.secret.description}. Store them with: aws secretsmanager put-secret-value --secret-id ${secretName} --secret-string <value>`,
      // Starts as a placeholder the adapters recognise as "no credentials yet" (JSON without any credential field).
      // Secrets Manager generates the placeholder key's value itself, so no value, not even an empty one, is in the
      // template.
      generateSecretString: { secretStringTemplate: '{}', generateStringKey: 'placeholder' },
      encryptionKey: key,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason: `${spec.displayName} credentials are issued by a person in the platform's own console and stored here by hand (${spec.secret.description}); Secrets Manager cannot create or rotate them.`,
    });
    return secret;
  }
}

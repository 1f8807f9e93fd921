import { existsSync } from 'node:fs';
import { Duration, RemovalPolicy, Size, Stack, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { AudienceConfig } from '../../functions/core/config';
import { acknowledgeWildcardResource, propError, requireWholeNumber } from './checks';

/** Runtime of every function. cdk-nag AwsSolutions-L1 asks for the newest Node.js that aws-cdk-lib knows (24.x in 2.276). */
export const HOUSE_RUNTIME = lambda.Runtime.NODEJS_24_X;

/**
 * ESM bundles: the Meta SDK (axios, form-data) calls `require('fs')`, which esbuild's ESM output cannot do
 * unless a real `require` exists in module scope.
 */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);";

/** A destination id as the config allows it (functions/core/config.ts). */
const DESTINATION_ID = /^[a-z0-9][a-z0-9-_]{0,62}$/;

/** Key prefixes a function may use, per kind of access. Each prefix must end with `/`. */
export interface BucketAccess {
  /** Prefixes it may read, any version (s3:GetObject, s3:GetObjectVersion). @default - none */
  readonly read?: readonly string[];
  /** Prefixes it may write (s3:PutObject). @default - none */
  readonly write?: readonly string[];
  /** Prefixes it may delete from, any version (s3:DeleteObject, s3:DeleteObjectVersion). @default - none */
  readonly delete?: readonly string[];
}

export interface HouseFunctionProps {
  /** Handler file, e.g. `functions/ingest.ts`; it must export `handler`. */
  readonly entry: string;
  /** The validated audiences config; embedded in the bundle as the string constant `__AUDIENCE_CONFIG__`. */
  readonly config: AudienceConfig;
  /** @default - no description */
  readonly description?: string;
  /**
   * Memory in MB (CPU scales with it; 1769 MB is one full vCPU).
   * @default 1024
   */
  readonly memorySize?: number;
  /**
   * @default Duration.minutes(1)
   */
  readonly timeout?: Duration;
  /**
   * Size of `/tmp`.
   * @default Size.mebibytes(512)
   */
  readonly ephemeralStorageSize?: Size;
  /**
   * How long the function's logs are kept.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * What happens to the log group when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly logRemovalPolicy?: RemovalPolicy;
  /**
   * KMS key for the log group (its key policy must let CloudWatch Logs use it).
   * @default - CloudWatch Logs service-side encryption
   */
  readonly logEncryptionKey?: kms.IKey;
}

/**
 * The house Lambda function: Node.js 24 on ARM64, ESM bundle with source maps and the embedded config,
 * X-Ray tracing, its own log group, and an explicit role that can write to that log group only.
 * Other permissions come from `grantTable`, `useBucket` and `useDestinationSecrets`, each of which also sets the env var
 * the handler reads, so a permission and its configuration never drift apart.
 */
export class HouseFunction extends Construct {
  /** The Lambda function. */
  public readonly function: nodejs.NodejsFunction;
  /** The function's execution role (no managed policies). */
  public readonly role: iam.Role;
  /** The function's log group. */
  public readonly logGroup: logs.LogGroup;
  private bucketGranted = false;

  constructor(scope: Construct, id: string, props: HouseFunctionProps) {
    super(scope, id);
    const memorySize = props.memorySize ?? 1024;
    const timeout = props.timeout ?? Duration.minutes(1);
    const ephemeral = props.ephemeralStorageSize ?? Size.mebibytes(512);
    if (!existsSync(props.entry)) {
      throw propError(
        this,
        `entry ${JSON.stringify(props.entry)} does not exist; give the path of a handler file such as functions/ingest.ts.`,
      );
    }
    requireWholeNumber(this, 'memorySize', memorySize, { min: 128, max: 10240 }, 'Give the memory in MB, e.g. 1024.');
    requireWholeNumber(
      this,
      'timeout (seconds)',
      timeout.toSeconds(),
      { min: 1, max: 900 },
      'Lambda runs at most 15 minutes; longer work belongs in the Step Functions loop.',
    );
    requireWholeNumber(
      this,
      'ephemeralStorageSize (MiB)',
      ephemeral.toMebibytes(),
      { min: 512, max: 10240 },
      'Give e.g. Size.gibibytes(4).',
    );

    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      encryptionKey: props.logEncryptionKey,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });

    // An explicit role instead of AWSLambdaBasicExecutionRole, which may write to every log group in the account.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${this.node.path}`,
    });
    const logsPolicy = new iam.Policy(this, 'LogsPolicy', {
      roles: [this.role],
      statements: [
        new iam.PolicyStatement({
          actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          resources: [this.logGroup.logGroupArn],
        }),
      ],
    });
    // Tracing is switched on below at the resource level so its grant lives in its own policy: the IAM5
    // acknowledgement for `Resource::*` then covers these two X-Ray actions and nothing else the role may get.
    const tracingPolicy = new iam.Policy(this, 'TracingPolicy', {
      roles: [this.role],
      statements: [
        new iam.PolicyStatement({
          actions: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'],
          resources: ['*'],
        }),
      ],
    });
    Validations.of(tracingPolicy).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions.',
    });

    this.function = new nodejs.NodejsFunction(this, 'Function', {
      entry: props.entry,
      handler: 'handler',
      description: props.description,
      runtime: HOUSE_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize,
      timeout,
      ephemeralStorageSize: ephemeral,
      role: this.role,
      logGroup: this.logGroup,
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
      bundling: {
        format: nodejs.OutputFormat.ESM,
        target: 'node24',
        mainFields: ['module', 'main'],
        minify: true,
        sourceMap: true,
        // Bundle the AWS SDK too: the versions pinned in package.json are the ones tested, not the runtime's.
        externalModules: [],
        banner: ESM_REQUIRE_BANNER,
        define: { __AUDIENCE_CONFIG__: JSON.stringify(JSON.stringify(props.config)) },
      },
    });
    const cfnFunction = this.function.node.defaultChild as lambda.CfnFunction;
    cfnFunction.tracingConfig = { mode: lambda.Tracing.ACTIVE };
    this.function.node.addDependency(logsPolicy, tracingPolicy);
  }

  /** Lets the function read (or read and write) items of `table`, and sets `TABLE_NAME`. */
  public grantTable(table: dynamodb.ITable, access: 'read' | 'readWrite'): void {
    const read = [
      'dynamodb:GetItem',
      'dynamodb:BatchGetItem',
      'dynamodb:Query',
      'dynamodb:Scan',
      'dynamodb:ConditionCheckItem',
      'dynamodb:DescribeTable',
    ];
    const write = ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'];
    const statements = [
      new iam.PolicyStatement({
        actions: access === 'readWrite' ? [...read, ...write] : read,
        resources: [table.tableArn],
      }),
    ];
    if (table.encryptionKey) {
      statements.push(
        new iam.PolicyStatement({
          actions:
            access === 'readWrite'
              ? ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey']
              : ['kms:Decrypt', 'kms:DescribeKey'],
          resources: [table.encryptionKey.keyArn],
        }),
      );
    }
    this.attach('TablePolicy', statements);
    this.function.addEnvironment('TABLE_NAME', table.tableName);
  }

  /**
   * Lets the function get, put or delete objects under the given key prefixes of `bucket` (never the whole
   * bucket), and sets `BUCKET_NAME`. The drop bucket is versioned: HeadObject returns a VersionId, and the function
   * reads and then deletes that exact version, which AWS authorizes as s3:GetObjectVersion and
   * s3:DeleteObjectVersion (deleting it by id is what removes the plaintext instead of leaving a noncurrent version).
   *
   * Granted through CDK's own `BucketGrants.actionsOnObjectKeys` with the exact actions, not `grantRead` /
   * `grantPut` / `grantDelete`: those add `s3:GetObject*` (ACLs, tags, attributes, torrents…), `s3:List*` and
   * `s3:GetBucket*` on the whole bucket (every list's file names, the bucket's policy and notifications),
   * `s3:PutObject*` (ACLs) and `s3:DeleteObject*` (tags), none of which the functions use.
   */
  public useBucket(bucket: s3.IBucket, access: BucketAccess): void {
    const byAccess: Array<[readonly string[], string[], string[]]> = [
      [access.read ?? [], ['s3:GetObject', 's3:GetObjectVersion'], ['kms:Decrypt']],
      // Multipart uploads (lib-storage) decrypt the data key of earlier parts, so writers need both.
      [access.write ?? [], ['s3:PutObject'], ['kms:GenerateDataKey', 'kms:Decrypt']],
      [access.delete ?? [], ['s3:DeleteObject', 's3:DeleteObjectVersion'], []],
    ];
    const prefixes = new Set(byAccess.flatMap(([p]) => p));
    if (prefixes.size === 0) {
      throw propError(this, 'useBucket needs at least one prefix in read, write or delete; received none.');
    }
    for (const prefix of prefixes) {
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]*\/$/.test(prefix)) {
        throw propError(
          this,
          `useBucket prefixes must be one path segment ending in "/", like "reports/"; received ${JSON.stringify(prefix)}.`,
        );
      }
    }
    if (this.bucketGranted) {
      throw propError(
        this,
        'useBucket was called twice; grant each table, bucket and secret once with all its access.',
      );
    }
    this.bucketGranted = true;
    const grants = s3.BucketGrants.fromBucket(bucket);
    for (const [list, objectActions, keyActions] of byAccess) {
      for (const prefix of list) {
        // KMS actions go to the bucket's key (when it has a customer-managed one), S3 actions to `<prefix>*`.
        grants.actionsOnObjectKeys(this.role, `${prefix}*`, ...objectActions, ...keyActions);
      }
    }
    this.function.addEnvironment('BUCKET_NAME', bucket.bucketName);
    // The grants land in the role's default policy; the function already depends on the role and so on it.
    const policy = this.role.node.findChild('DefaultPolicy');
    for (const prefix of prefixes) {
      acknowledgeWildcardResource(
        policy,
        bucket.arnForObjects(`${prefix}*`),
        `Object keys under ${prefix} are data (list ids, file names); the grant is limited to that one prefix.`,
      );
    }
  }

  /**
   * Lets the function read the secret of each destination (`GetSecretValue` on exactly those secrets, in one policy)
   * and sets `DESTINATION_SECRETS` to JSON: destination id → secret id (the full ARN of a secret the stack knows, the
   * name of one imported by name, which Secrets Manager accepts as a SecretId too).
   *
   * A secret imported by name has only a partial ARN; Secrets Manager appends "-" and 6 random characters, so its
   * grant is `<partial ARN>-??????`. `kms:Decrypt` is granted on each secret's key where CDK knows it, and on
   * `importedSecretKey` for imported secrets whose key it does not know (a secret imported by name carries none): pass
   * the key those are assumed to use, unless it is the AWS-managed `aws/secretsmanager` (which needs no grant).
   */
  public useDestinationSecrets(
    secrets: Readonly<Record<string, secretsmanager.ISecret>>,
    options: { readonly importedSecretKey?: kms.IKey } = {},
  ): void {
    const entries = Object.entries(secrets);
    if (entries.length === 0) {
      throw propError(
        this,
        'useDestinationSecrets needs at least one destination secret; received none (a config without destinations needs no call).',
      );
    }
    for (const [destinationId] of entries) {
      if (!DESTINATION_ID.test(destinationId)) {
        throw propError(
          this,
          `useDestinationSecrets: a destination id uses lowercase letters, digits, - and _ (max 63), starting with a letter or digit, as in the config; received ${JSON.stringify(destinationId)}.`,
        );
      }
    }
    const secretResources = new Set<string>();
    const keyArns = new Set<string>();
    for (const [, secret] of entries) {
      secretResources.add(secret.secretFullArn ?? `${secret.secretArn}-??????`);
      // A secret this app creates has the key it was given (none: aws/secretsmanager); an imported one, the assumed key.
      const key =
        secret instanceof secretsmanager.Secret
          ? secret.encryptionKey
          : (secret.encryptionKey ?? options.importedSecretKey);
      if (key) keyArns.add(key.keyArn);
    }
    const statements = [
      new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [...secretResources] }),
    ];
    if (keyArns.size) statements.push(new iam.PolicyStatement({ actions: ['kms:Decrypt'], resources: [...keyArns] }));
    this.attach('SecretPolicy', statements);
    const ids = Object.fromEntries(entries.map(([id, s]) => [id, s.secretFullArn ?? s.secretName]));
    this.function.addEnvironment('DESTINATION_SECRETS', Stack.of(this).toJsonString(ids));
  }

  /**
   * Lets the function start executions of `stateMachine` (states:StartExecution on exactly its ARN) and sets `envVar`
   * to its ARN, plus any settings the caller passes along in `env`.
   */
  public startsExecutionsOf(
    stateMachine: { readonly stateMachineArn: string },
    envVar: string,
    env: Readonly<Record<string, string>> = {},
  ): void {
    this.attach('StateMachinePolicy', [
      new iam.PolicyStatement({ actions: ['states:StartExecution'], resources: [stateMachine.stateMachineArn] }),
    ]);
    this.function.addEnvironment(envVar, stateMachine.stateMachineArn);
    for (const [k, v] of Object.entries(env)) this.function.addEnvironment(k, v);
  }

  private attach(id: string, statements: iam.PolicyStatement[]): iam.Policy {
    if (this.node.tryFindChild(id)) {
      throw propError(this, `${id} was granted twice; grant each table, bucket and secret once with all its access.`);
    }
    const policy = new iam.Policy(this, id, { roles: [this.role], statements });
    this.function.node.addDependency(policy);
    return policy;
  }
}

/**
 * What AWS authorizes for each SDK command the functions' clients can send: the IAM action(s) and the resource
 * ARN(s), plus the KMS actions a customer-managed key adds. Facts from the AWS API references ("Permissions"
 * sections) and the Service Authorization Reference:
 *
 * - S3 GetObject / HeadObject need s3:GetObject; with a VersionId they need s3:GetObjectVersion instead (and a
 *   versioned bucket's HeadObject returns one, so every read after it carries it). DeleteObject likewise needs
 *   s3:DeleteObject, or s3:DeleteObjectVersion with a VersionId. The same pairs hold for tagging and attributes.
 * - CopyObject is a read of the source (s3:GetObject, or s3:GetObjectVersion when CopySource names a version) and a
 *   write of the target (s3:PutObject). Multipart uploads (Create, UploadPart, Complete) are s3:PutObject on the
 *   target; AbortMultipartUpload and ListParts have their own actions.
 * - ListObjectsV2 / ListObjects / HeadBucket need s3:ListBucket on the bucket ARN (with the s3:prefix condition key);
 *   ListObjectVersions needs s3:ListBucketVersions.
 * - SSE-KMS with a customer-managed key: kms:Decrypt to read an object, kms:GenerateDataKey to write one, and both
 *   for each step of a multipart upload. HeadObject and DeleteObject use no key.
 * - DynamoDB: the action of the same name on the table ARN; Query and Scan with IndexName on
 *   `table/<name>/index/<index>`; BatchGetItem / BatchWriteItem on every table in RequestItems; TransactWriteItems
 *   and TransactGetItems have no action of their own: each item needs PutItem / UpdateItem / DeleteItem /
 *   ConditionCheckItem / GetItem on its table. With a customer-managed table key every data-plane call needs
 *   kms:Decrypt (DynamoDB decrypts the table key with the caller's permissions).
 * - Secrets Manager GetSecretValue needs secretsmanager:GetSecretValue on the secret's full ARN and, when the secret
 *   is encrypted with a customer-managed key, kms:Decrypt on that key.
 * - Step Functions StartExecution needs states:StartExecution on the state machine's ARN. A ranged GetObject (the
 *   Range header) is an ordinary s3:GetObject / s3:GetObjectVersion.
 *
 * AWS-managed keys (aws/s3, aws/dynamodb, aws/secretsmanager) need no identity-policy grant: their key policies
 * admit every principal of the account through the service.
 */
import type { Environment, Requirement, TemplateResolver } from './iam-policy';

/** One command as a function's client sent it (see test/helpers/aws-recorder.ts). */
export interface SentCommand {
  /** The function that sent it (the label the test ran it under). */
  fn: string;
  /** `S3`, `DynamoDB`, `SecretsManager`. */
  service: string;
  /** Without the `Command` suffix, e.g. `GetObject`. */
  command: string;
  input: Record<string, unknown>;
  output?: Record<string, unknown>;
}

/** A requirement and why AWS makes it, for failure messages. */
export interface Need extends Requirement {
  why: string;
}

/** Customer-managed keys of the deployed resources, read from the template. */
export interface ResourceFacts {
  env: Environment;
  bucketKey(bucket: string): string | undefined;
  tableKey(table: string): string | undefined;
  secretKey(secretArn: string): string | undefined;
}

type Rule = (cmd: SentCommand, facts: ResourceFacts) => Need[];

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

const objectArn = (f: ResourceFacts, bucket: string, key: string) => `arn:${f.env.partition}:s3:::${bucket}/${key}`;
const bucketArn = (f: ResourceFacts, bucket: string) => `arn:${f.env.partition}:s3:::${bucket}`;
const tableArn = (f: ResourceFacts, table: string) =>
  `arn:${f.env.partition}:dynamodb:${f.env.region}:${f.env.account}:table/${table}`;

function target(cmd: SentCommand): { bucket: string; key: string; versionId?: string } {
  const bucket = str(cmd.input.Bucket);
  const key = str(cmd.input.Key);
  if (!bucket || key === undefined) throw new Error(`${cmd.command} without Bucket and Key; the IAM table needs both`);
  return { bucket, key, versionId: str(cmd.input.VersionId) };
}

/** `bucket/key[?versionId=v]`, key URL-encoded, as CopySource is sent. */
function copySource(cmd: SentCommand): { bucket: string; key: string; versionId?: string } {
  const raw = str(cmd.input.CopySource) ?? '';
  const [path = '', query = ''] = raw.replace(/^\//, '').split('?');
  const slash = path.indexOf('/');
  const versionId = new URLSearchParams(query).get('versionId') ?? undefined;
  return { bucket: path.slice(0, slash), key: decodeURIComponent(path.slice(slash + 1)), versionId };
}

/** The versioned or plain action on one object, e.g. s3:GetObject / s3:GetObjectVersion. */
function onObject(
  f: ResourceFacts,
  o: { bucket: string; key: string; versionId?: string },
  plain: string,
  versioned: string,
  why: string,
): Need {
  return o.versionId
    ? { action: versioned, resource: objectArn(f, o.bucket, o.key), why: `${why} with a VersionId` }
    : { action: plain, resource: objectArn(f, o.bucket, o.key), why };
}

function bucketKeyNeeds(f: ResourceFacts, bucket: string, actions: string[], why: string): Need[] {
  const key = f.bucketKey(bucket);
  return key ? actions.map((action) => ({ action, resource: key, why: `${why} (bucket key)` })) : [];
}

/** Object write: s3:PutObject, tags and ACLs when the request sets them, the key's GenerateDataKey (and Decrypt). */
function objectWrite(f: ResourceFacts, cmd: SentCommand, kms: string[], why: string): Need[] {
  const o = target(cmd);
  const needs: Need[] = [{ action: 's3:PutObject', resource: objectArn(f, o.bucket, o.key), why }];
  if (cmd.input.Tagging) needs.push({ action: 's3:PutObjectTagging', resource: needs[0]!.resource, why: 'Tagging' });
  if (cmd.input.ACL || cmd.input.GrantRead || cmd.input.GrantFullControl)
    needs.push({ action: 's3:PutObjectAcl', resource: needs[0]!.resource, why: 'ACL' });
  return [...needs, ...bucketKeyNeeds(f, o.bucket, kms, why)];
}

const MULTIPART_KMS = ['kms:GenerateDataKey', 'kms:Decrypt'];

const s3: Record<string, Rule> = {
  HeadObject: (c, f) => [onObject(f, target(c), 's3:GetObject', 's3:GetObjectVersion', 'HeadObject')],
  GetObject: (c, f) => [
    onObject(f, target(c), 's3:GetObject', 's3:GetObjectVersion', 'GetObject'),
    ...bucketKeyNeeds(f, target(c).bucket, ['kms:Decrypt'], 'GetObject'),
  ],
  GetObjectAttributes: (c, f) => [
    onObject(f, target(c), 's3:GetObjectAttributes', 's3:GetObjectVersionAttributes', 'GetObjectAttributes'),
  ],
  GetObjectTagging: (c, f) => [
    onObject(f, target(c), 's3:GetObjectTagging', 's3:GetObjectVersionTagging', 'GetObjectTagging'),
  ],
  PutObjectTagging: (c, f) => [
    onObject(f, target(c), 's3:PutObjectTagging', 's3:PutObjectVersionTagging', 'PutObjectTagging'),
  ],
  DeleteObjectTagging: (c, f) => [
    onObject(f, target(c), 's3:DeleteObjectTagging', 's3:DeleteObjectVersionTagging', 'DeleteObjectTagging'),
  ],
  PutObject: (c, f) => objectWrite(f, c, ['kms:GenerateDataKey'], 'PutObject'),
  CreateMultipartUpload: (c, f) => objectWrite(f, c, MULTIPART_KMS, 'CreateMultipartUpload'),
  UploadPart: (c, f) => objectWrite(f, c, MULTIPART_KMS, 'UploadPart'),
  CompleteMultipartUpload: (c, f) => objectWrite(f, c, MULTIPART_KMS, 'CompleteMultipartUpload'),
  AbortMultipartUpload: (c, f) => [
    { action: 's3:AbortMultipartUpload', resource: objectArn(f, target(c).bucket, target(c).key), why: 'Abort' },
  ],
  ListParts: (c, f) => [
    {
      action: 's3:ListMultipartUploadParts',
      resource: objectArn(f, target(c).bucket, target(c).key),
      why: 'ListParts',
    },
  ],
  CopyObject: (c, f) => {
    const source = copySource(c);
    return [
      onObject(f, source, 's3:GetObject', 's3:GetObjectVersion', 'CopyObject reads its source'),
      ...bucketKeyNeeds(f, source.bucket, ['kms:Decrypt'], 'CopyObject reads its source'),
      ...objectWrite(f, c, ['kms:GenerateDataKey'], 'CopyObject writes its target'),
    ];
  },
  UploadPartCopy: (c, f) => {
    const source = copySource(c);
    return [
      onObject(f, source, 's3:GetObject', 's3:GetObjectVersion', 'UploadPartCopy reads its source'),
      ...bucketKeyNeeds(f, source.bucket, ['kms:Decrypt'], 'UploadPartCopy reads its source'),
      ...objectWrite(f, c, MULTIPART_KMS, 'UploadPartCopy writes its target'),
    ];
  },
  DeleteObject: (c, f) => [onObject(f, target(c), 's3:DeleteObject', 's3:DeleteObjectVersion', 'DeleteObject')],
  DeleteObjects: (c, f) => {
    const bucket = str(c.input.Bucket) ?? '';
    const objects = ((c.input.Delete as { Objects?: Array<{ Key: string; VersionId?: string }> })?.Objects ?? []).map(
      (o) => ({ bucket, key: o.Key, versionId: o.VersionId }),
    );
    return objects.map((o) => onObject(f, o, 's3:DeleteObject', 's3:DeleteObjectVersion', 'DeleteObjects'));
  },
  ListObjectsV2: (c, f) => [
    {
      action: 's3:ListBucket',
      resource: bucketArn(f, str(c.input.Bucket) ?? ''),
      context: { 's3:prefix': str(c.input.Prefix) ?? '' },
      why: 'ListObjectsV2',
    },
  ],
  ListObjects: (c, f) => s3.ListObjectsV2!(c, f).map((n) => ({ ...n, why: 'ListObjects' })),
  ListObjectVersions: (c, f) => [
    {
      action: 's3:ListBucketVersions',
      resource: bucketArn(f, str(c.input.Bucket) ?? ''),
      context: { 's3:prefix': str(c.input.Prefix) ?? '' },
      why: 'ListObjectVersions',
    },
  ],
  HeadBucket: (c, f) => [{ action: 's3:ListBucket', resource: bucketArn(f, str(c.input.Bucket) ?? ''), why: 'Head' }],
};

function tableKeyNeeds(f: ResourceFacts, table: string, why: string): Need[] {
  const key = f.tableKey(table);
  return key ? [{ action: 'kms:Decrypt', resource: key, why: `${why} (table key)` }] : [];
}

/** One DynamoDB action on the command's TableName (or its index), plus the table key. */
const onTable =
  (action: string, indexed = false, dataPlane = true): Rule =>
  (c, f) => {
    const table = str(c.input.TableName);
    if (!table) throw new Error(`${c.command} without TableName; the IAM table needs it`);
    const index = indexed ? str(c.input.IndexName) : undefined;
    const resource = index ? `${tableArn(f, table)}/index/${index}` : tableArn(f, table);
    const why = index ? `${c.command} on index ${index}` : c.command;
    return [{ action, resource, why }, ...(dataPlane ? tableKeyNeeds(f, table, c.command) : [])];
  };

/** BatchGetItem / BatchWriteItem: the batch action on every table named in RequestItems. */
const onEveryTable =
  (action: string): Rule =>
  (c, f) =>
    Object.keys((c.input.RequestItems as Record<string, unknown>) ?? {}).flatMap((table) => [
      { action, resource: tableArn(f, table), why: c.command },
      ...tableKeyNeeds(f, table, c.command),
    ]);

/** Transactions: each item needs the action of its kind on its table. */
const transact =
  (kinds: Record<string, string>): Rule =>
  (c, f) =>
    ((c.input.TransactItems as Array<Record<string, { TableName: string }>>) ?? []).flatMap((item) =>
      Object.entries(item).flatMap(([kind, body]) => {
        const action = kinds[kind];
        if (!action) throw new Error(`${c.command} item of kind ${kind}: add it to the IAM table`);
        return [
          { action, resource: tableArn(f, body.TableName), why: `${c.command} ${kind}` },
          ...tableKeyNeeds(f, body.TableName, c.command),
        ];
      }),
    );

const dynamodb: Record<string, Rule> = {
  GetItem: onTable('dynamodb:GetItem'),
  PutItem: onTable('dynamodb:PutItem'),
  UpdateItem: onTable('dynamodb:UpdateItem'),
  DeleteItem: onTable('dynamodb:DeleteItem'),
  Query: onTable('dynamodb:Query', true),
  Scan: onTable('dynamodb:Scan', true),
  DescribeTable: onTable('dynamodb:DescribeTable', false, false),
  DescribeTimeToLive: onTable('dynamodb:DescribeTimeToLive', false, false),
  BatchGetItem: onEveryTable('dynamodb:BatchGetItem'),
  BatchWriteItem: onEveryTable('dynamodb:BatchWriteItem'),
  TransactWriteItems: transact({
    Put: 'dynamodb:PutItem',
    Update: 'dynamodb:UpdateItem',
    Delete: 'dynamodb:DeleteItem',
    ConditionCheck: 'dynamodb:ConditionCheckItem',
  }),
  TransactGetItems: transact({ Get: 'dynamodb:GetItem' }),
};

/** The secret's full ARN: from the response (a SecretId may be a name), else the SecretId when it is an ARN. */
function secretArn(c: SentCommand): string {
  const arn = str(c.output?.ARN) ?? str(c.input.SecretId);
  if (!arn?.startsWith('arn:')) {
    throw new Error(`${c.command} of ${String(c.input.SecretId)} got no ARN back; the recorder must keep the response`);
  }
  return arn;
}

const secretsmanager: Record<string, Rule> = {
  GetSecretValue: (c, f) => {
    const arn = secretArn(c);
    const key = f.secretKey(arn);
    return [
      { action: 'secretsmanager:GetSecretValue', resource: arn, why: 'GetSecretValue' },
      ...(key ? [{ action: 'kms:Decrypt', resource: key, why: 'GetSecretValue (secret key)' }] : []),
    ];
  },
  DescribeSecret: (c) => [{ action: 'secretsmanager:DescribeSecret', resource: secretArn(c), why: 'DescribeSecret' }],
};

/** Step Functions StartExecution needs states:StartExecution on the state machine's ARN. */
const sfn: Record<string, Rule> = {
  StartExecution: (c) => {
    const arn = str(c.input.stateMachineArn);
    if (!arn) throw new Error('StartExecution without stateMachineArn; the IAM table needs it');
    return [{ action: 'states:StartExecution', resource: arn, why: 'StartExecution' }];
  },
};

export const IAM_TABLE: Record<string, Record<string, Rule>> = {
  S3: s3,
  DynamoDB: dynamodb,
  SecretsManager: secretsmanager,
  SFN: sfn,
};

/** What AWS checks for `cmd`; throws "add <Command> to the IAM table" for a command the table does not know. */
export function requirementsOf(cmd: SentCommand, facts: ResourceFacts): Need[] {
  const rule = IAM_TABLE[cmd.service]?.[cmd.command];
  if (!rule)
    throw new Error(`add ${cmd.command}Command (${cmd.service}) to the IAM table in test/helpers/iam-table.ts`);
  return rule(cmd, facts);
}

/** Where buckets, tables and secrets name their key in CloudFormation. */
interface TemplateKeys {
  BucketEncryption?: {
    ServerSideEncryptionConfiguration?: Array<{ ServerSideEncryptionByDefault?: { KMSMasterKeyID?: unknown } }>;
  };
  SSESpecification?: { KMSMasterKeyId?: unknown };
  KmsKeyId?: unknown;
}

/**
 * The customer-managed keys of the template's buckets, tables and secrets, by their resolved names / ARNs. A secret the
 * stack only references by name is not in the template, so its key is unknown: `importedSecretKey` is the key such a
 * secret is assumed to use (the stack assumes its customer key), else it needs none (aws/secretsmanager).
 */
export function factsFromTemplate(t: TemplateResolver, opts: { importedSecretKey?: string } = {}): ResourceFacts {
  const buckets = new Map<string, string>();
  const tables = new Map<string, string>();
  const secrets = new Map<string, string>();
  for (const [id, r] of Object.entries(t.template.Resources)) {
    const p = (r.Properties ?? {}) as TemplateKeys;
    const bucketKeyId =
      p.BucketEncryption?.ServerSideEncryptionConfiguration?.[0]?.ServerSideEncryptionByDefault?.KMSMasterKeyID;
    if (r.Type === 'AWS::S3::Bucket' && bucketKeyId) buckets.set(t.ref(id), t.resolve(bucketKeyId));
    const tableKeyId = p.SSESpecification?.KMSMasterKeyId;
    if (r.Type === 'AWS::DynamoDB::Table' && tableKeyId) tables.set(t.ref(id), t.resolve(tableKeyId));
    if (r.Type === 'AWS::SecretsManager::Secret' && p.KmsKeyId) secrets.set(t.ref(id), t.resolve(p.KmsKeyId));
  }
  return {
    env: t.env,
    bucketKey: (b) => buckets.get(b),
    tableKey: (name) => tables.get(name),
    secretKey: (arn) => secrets.get(arn) ?? opts.importedSecretKey,
  };
}

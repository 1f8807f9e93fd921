/** The IAM coverage test's own parts: the policy evaluator and the command → permission table. */
import { describe, expect, it } from 'vitest';
import {
  actionMatches,
  allowingStatements,
  FAKE_ENV,
  resourceMatches,
  type TemplateJson,
  TemplateResolver,
} from '../helpers/iam-policy';
import { type ResourceFacts, requirementsOf, type SentCommand } from '../helpers/iam-table';

describe('policy evaluator', () => {
  it('matches actions with * and ? wildcards, case-insensitively', () => {
    expect(actionMatches('s3:GetObject*', 's3:GetObjectVersion')).toBe(true);
    expect(actionMatches('S3:getobject', 's3:GetObject')).toBe(true);
    expect(actionMatches('s3:Get?bject', 's3:GetObject')).toBe(true);
    expect(actionMatches('s3:GetObject', 's3:GetObjectVersion')).toBe(false);
    expect(actionMatches('s3:*', 'dynamodb:GetItem')).toBe(false);
  });

  it('matches ARNs segment by segment, with the resource part as a whole', () => {
    expect(resourceMatches('arn:aws:s3:::b/incoming/*', 'arn:aws:s3:::b/incoming/list/a.csv')).toBe(true);
    expect(resourceMatches('arn:aws:s3:::b/incoming/*', 'arn:aws:s3:::b/reports/a.json')).toBe(false);
    expect(resourceMatches('arn:aws:s3:::b/*', 'arn:aws:s3:::b')).toBe(false);
    expect(resourceMatches('*', 'arn:aws:s3:::b')).toBe(true);
    expect(
      resourceMatches(
        'arn:aws:secretsmanager:us-*:111111111111:secret:tok-??????',
        'arn:aws:secretsmanager:us-east-1:111111111111:secret:tok-Ab12Cd',
      ),
    ).toBe(true);
    // A wildcard in the region does not reach into the account.
    expect(resourceMatches('arn:aws:kms:*', 'arn:aws:kms:us-east-1:111111111111:key/k')).toBe(false);
    const table = 'arn:aws:dynamodb:us-east-1:111111111111:table/t';
    expect(resourceMatches(table, `${table}/index/by-date`)).toBe(false);
    expect(resourceMatches(`${table}/index/*`, `${table}/index/by-date`)).toBe(true);
  });

  const template: TemplateJson = {
    Resources: {
      Bucket: { Type: 'AWS::S3::Bucket' },
      Table: { Type: 'AWS::DynamoDB::Table', Properties: { TableName: 'contacts' } },
      Secret: { Type: 'AWS::SecretsManager::Secret', Properties: { Name: 'app/token' } },
      Role: { Type: 'AWS::IAM::Role' },
      Other: { Type: 'AWS::IAM::Role' },
      Policy: {
        Type: 'AWS::IAM::Policy',
        Properties: {
          Roles: [{ Ref: 'Role' }],
          PolicyDocument: {
            Statement: [
              {
                Effect: 'Allow',
                Action: ['s3:GetObject', 's3:GetObjectVersion'],
                Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['Bucket', 'Arn'] }, '/incoming/*']] },
              },
              {
                Effect: 'Allow',
                Action: 's3:ListBucket',
                Resource: { 'Fn::GetAtt': ['Bucket', 'Arn'] },
                Condition: { StringLike: { 's3:prefix': 'incoming/*' } },
              },
              { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: { Ref: 'Secret' } },
              {
                Effect: 'Allow',
                Action: 'dynamodb:Query',
                Resource: {
                  // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub, not a JS template
                  'Fn::Sub': 'arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/contacts',
                },
              },
            ],
          },
        },
      },
      OtherPolicy: {
        Type: 'AWS::IAM::Policy',
        Properties: {
          Roles: [{ Ref: 'Other' }],
          PolicyDocument: { Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] },
        },
      },
    },
  };
  const resolver = new TemplateResolver(template, { ...FAKE_ENV, names: { Bucket: 'drop' } });

  it('resolves intrinsics to ARNs in the fake account, with the physical names it is given', () => {
    expect(resolver.resolve({ 'Fn::Join': ['', [{ 'Fn::GetAtt': ['Bucket', 'Arn'] }, '/x']] })).toBe(
      'arn:aws:s3:::drop/x',
    );
    expect(resolver.resolve({ 'Fn::GetAtt': ['Table', 'Arn'] })).toBe(
      'arn:aws:dynamodb:us-east-1:111111111111:table/contacts',
    );
    expect(resolver.resolve({ Ref: 'Secret' })).toBe(
      'arn:aws:secretsmanager:us-east-1:111111111111:secret:app/token-Ab12Cd',
    );
    expect(resolver.resolve({ 'Fn::Select': [1, { 'Fn::Split': ['/', 'a/b/c'] }] })).toBe('b');
    expect(() => resolver.resolve({ 'Fn::ImportValue': 'x' })).toThrow(/add that intrinsic function/);
  });

  it('reads only the policies attached to the role, and honours conditions it knows', () => {
    const statements = resolver.statementsOfRole('Role');
    expect(statements).toHaveLength(4);
    const allowed = (action: string, resource: string, context?: Record<string, string>) =>
      allowingStatements(statements, { action, resource, context }).length > 0;
    expect(allowed('s3:GetObjectVersion', 'arn:aws:s3:::drop/incoming/l/a.csv')).toBe(true);
    expect(allowed('s3:DeleteObject', 'arn:aws:s3:::drop/incoming/l/a.csv')).toBe(false);
    expect(allowed('s3:ListBucket', 'arn:aws:s3:::drop', { 's3:prefix': 'incoming/l/' })).toBe(true);
    expect(allowed('s3:ListBucket', 'arn:aws:s3:::drop', { 's3:prefix': 'reports/' })).toBe(false);
    expect(allowed('s3:ListBucket', 'arn:aws:s3:::drop')).toBe(false);
    expect(allowed('dynamodb:Query', 'arn:aws:dynamodb:us-east-1:111111111111:table/contacts')).toBe(true);
  });

  it('refuses what it cannot evaluate: Deny, NotAction, managed policies', () => {
    const withStatement = (statement: Record<string, unknown>): TemplateJson => ({
      Resources: {
        Role: { Type: 'AWS::IAM::Role' },
        P: {
          Type: 'AWS::IAM::Policy',
          Properties: { Roles: [{ Ref: 'Role' }], PolicyDocument: { Statement: [statement] } },
        },
      },
    });
    const statementsOf = (t: TemplateJson) => () => new TemplateResolver(t).statementsOfRole('Role');
    expect(statementsOf(withStatement({ Effect: 'Deny', Action: 's3:*', Resource: '*' }))).toThrow(/Allow statements/);
    expect(statementsOf(withStatement({ Effect: 'Allow', NotAction: 's3:*', Resource: '*' }))).toThrow(/NotAction/);
    const managed: TemplateJson = {
      Resources: { Role: { Type: 'AWS::IAM::Role', Properties: { ManagedPolicyArns: ['arn:aws:iam::aws:policy/x'] } } },
    };
    expect(statementsOf(managed)).toThrow(/managed policies/);
  });
});

describe('IAM table', () => {
  const KEY = 'arn:aws:kms:us-east-1:111111111111:key/k';
  const facts = (withKey: boolean): ResourceFacts => ({
    env: FAKE_ENV,
    bucketKey: () => (withKey ? KEY : undefined),
    tableKey: () => (withKey ? KEY : undefined),
    secretKey: () => (withKey ? KEY : undefined),
  });
  const cmd = (service: string, command: string, input: Record<string, unknown>, output?: Record<string, unknown>) =>
    ({ fn: 'F', service, command, input, output }) as SentCommand;
  const needs = (c: SentCommand, withKey = false) =>
    requirementsOf(c, facts(withKey)).map((n) => `${n.action} ${n.resource}`);

  it('asks for the …Version action when a VersionId is sent', () => {
    expect(needs(cmd('S3', 'GetObject', { Bucket: 'b', Key: 'k' }))).toEqual(['s3:GetObject arn:aws:s3:::b/k']);
    expect(needs(cmd('S3', 'GetObject', { Bucket: 'b', Key: 'k', VersionId: 'v' }))).toEqual([
      's3:GetObjectVersion arn:aws:s3:::b/k',
    ]);
    expect(needs(cmd('S3', 'DeleteObject', { Bucket: 'b', Key: 'k', VersionId: 'v' }))).toEqual([
      's3:DeleteObjectVersion arn:aws:s3:::b/k',
    ]);
    expect(needs(cmd('S3', 'HeadObject', { Bucket: 'b', Key: 'k', VersionId: 'v' }), true)).toEqual([
      's3:GetObjectVersion arn:aws:s3:::b/k',
    ]);
  });

  it('reads the source and writes the target of a copy, with the key for each', () => {
    const copy = cmd('S3', 'CopyObject', {
      Bucket: 'b',
      Key: 'quarantine/a b.csv',
      CopySource: 'b/incoming/a%20b.csv?versionId=v',
    });
    expect(needs(copy, true)).toEqual([
      's3:GetObjectVersion arn:aws:s3:::b/incoming/a b.csv',
      `kms:Decrypt ${KEY}`,
      's3:PutObject arn:aws:s3:::b/quarantine/a b.csv',
      `kms:GenerateDataKey ${KEY}`,
    ]);
  });

  it('needs GenerateDataKey and Decrypt for each step of a multipart upload under a customer key', () => {
    for (const step of ['CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload']) {
      expect(needs(cmd('S3', step, { Bucket: 'b', Key: 'reports/r' }), true)).toEqual([
        's3:PutObject arn:aws:s3:::b/reports/r',
        `kms:GenerateDataKey ${KEY}`,
        `kms:Decrypt ${KEY}`,
      ]);
    }
  });

  it('maps DynamoDB indexes, batches and transactions to the ARNs and actions AWS checks', () => {
    const table = 'arn:aws:dynamodb:us-east-1:111111111111:table';
    expect(needs(cmd('DynamoDB', 'Query', { TableName: 't', IndexName: 'by-date' }))).toEqual([
      `dynamodb:Query ${table}/t/index/by-date`,
    ]);
    expect(needs(cmd('DynamoDB', 'BatchWriteItem', { RequestItems: { t: [], u: [] } }), true)).toEqual([
      `dynamodb:BatchWriteItem ${table}/t`,
      `kms:Decrypt ${KEY}`,
      `dynamodb:BatchWriteItem ${table}/u`,
      `kms:Decrypt ${KEY}`,
    ]);
    const transact = cmd('DynamoDB', 'TransactWriteItems', {
      TransactItems: [{ Put: { TableName: 't' } }, { ConditionCheck: { TableName: 'u' } }],
    });
    expect(needs(transact)).toEqual([`dynamodb:PutItem ${table}/t`, `dynamodb:ConditionCheckItem ${table}/u`]);
  });

  it("takes a secret's ARN from the response, so a SecretId by name is checked against the full ARN", () => {
    const arn = 'arn:aws:secretsmanager:us-east-1:111111111111:secret:app/token-Ab12Cd';
    expect(needs(cmd('SecretsManager', 'GetSecretValue', { SecretId: 'app/token' }, { ARN: arn }), true)).toEqual([
      `secretsmanager:GetSecretValue ${arn}`,
      `kms:Decrypt ${KEY}`,
    ]);
  });

  it('names the command to add when the table does not know it', () => {
    expect(() => needs(cmd('S3', 'RestoreObject', { Bucket: 'b', Key: 'k' }))).toThrow(
      'add RestoreObjectCommand (S3) to the IAM table in test/helpers/iam-table.ts',
    );
  });
});

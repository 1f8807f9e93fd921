/**
 * A small evaluator of the identity policies in a synthesized CloudFormation template: does a role's policy allow
 * action A on resource R? Enough for the IAM coverage test, not a general IAM engine:
 *
 * - Allow statements only. A Deny, NotAction or NotResource in a role's policies throws: this stack has none, and
 *   silently ignoring one would make the answer wrong.
 * - `*` and `?` wildcards in actions (case-insensitive) and resources. An ARN is compared segment by segment
 *   (partition, service, region, account); a wildcard stays inside its segment there, and matches anything,
 *   `/` and `:` included, in the resource part.
 * - Conditions: `StringEquals` / `StringLike` on keys the requirement supplies (e.g. `s3:prefix`). A statement with any
 *   other condition is treated as not applying, so the evaluator can only under-approximate what a role may do.
 * - CloudFormation intrinsics (`Ref`, `Fn::GetAtt`, `Fn::Join`, `Fn::Sub`, `Fn::Select`, `Fn::Split`) are resolved
 *   against the template's logical ids to ARN strings in a fake account and region, with physical names chosen by
 *   the caller (so a template's bucket can be the bucket a test run used).
 */

export interface TemplateJson {
  Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
}

export interface Environment {
  partition: string;
  region: string;
  account: string;
  /** Physical names by logical id, e.g. the drop bucket's name in the test run. Others get a made-up name. */
  names?: Record<string, string>;
}

export const FAKE_ENV: Environment = { partition: 'aws', region: 'us-east-1', account: '111111111111' };

/** Six characters Secrets Manager appends to a secret's name in its ARN; fixed here so tests can predict it. */
export const SECRET_SUFFIX = 'Ab12Cd';

export interface Statement {
  sid?: string;
  actions: string[];
  resources: string[];
  conditions?: Record<string, Record<string, string | string[]>>;
  /** Logical id of the policy the statement came from (for messages). */
  policy: string;
}

/** What AWS checks for one request: an action on a resource, with the condition keys the request carries. */
export interface Requirement {
  action: string;
  resource: string;
  context?: Record<string, string>;
}

type Json = unknown;

export class TemplateResolver {
  constructor(
    readonly template: TemplateJson,
    readonly env: Environment = FAKE_ENV,
  ) {}

  private resource(id: string) {
    const r = this.template.Resources[id];
    if (!r) throw new Error(`the template has no resource ${id}; resolve only references the template makes`);
    return r;
  }

  /** The physical name of a resource: the caller's, else its name property, else the logical id in lower case. */
  nameOf(id: string): string {
    const given = this.env.names?.[id];
    if (given) return given;
    const p = this.resource(id).Properties ?? {};
    const own = p.BucketName ?? p.TableName ?? p.Name ?? p.FunctionName ?? p.RoleName ?? p.LogGroupName;
    return typeof own === 'string' ? own : id.toLowerCase();
  }

  private arn(service: string, resource: string, regional = true): string {
    const { partition, region, account } = this.env;
    return `arn:${partition}:${service}:${regional ? region : ''}:${account}:${resource}`;
  }

  ref(id: string): string {
    const pseudo: Record<string, string> = {
      'AWS::Partition': this.env.partition,
      'AWS::Region': this.env.region,
      'AWS::AccountId': this.env.account,
      'AWS::URLSuffix': 'amazonaws.com',
      'AWS::StackName': 'AudienceSync',
    };
    if (id in pseudo) return pseudo[id] as string;
    const type = this.resource(id).Type;
    switch (type) {
      case 'AWS::SecretsManager::Secret':
        return this.arn('secretsmanager', `secret:${this.nameOf(id)}-${SECRET_SUFFIX}`);
      case 'AWS::StepFunctions::StateMachine':
        return this.arn('states', `stateMachine:${this.nameOf(id)}`);
      case 'AWS::SNS::Topic':
        return this.arn('sns', this.nameOf(id));
      case 'AWS::KMS::Key':
        return `${id.toLowerCase()}-key-id`;
      default:
        return this.nameOf(id);
    }
  }

  getAtt(id: string, attribute: string): string {
    const type = this.resource(id).Type;
    const name = this.nameOf(id);
    if (attribute === 'Arn') {
      switch (type) {
        case 'AWS::S3::Bucket':
          return `arn:${this.env.partition}:s3:::${name}`;
        case 'AWS::DynamoDB::Table':
          return this.arn('dynamodb', `table/${name}`);
        case 'AWS::KMS::Key':
          return this.arn('kms', `key/${this.ref(id)}`);
        case 'AWS::Logs::LogGroup':
          return this.arn('logs', `log-group:${name}:*`);
        case 'AWS::Lambda::Function':
          return this.arn('lambda', `function:${name}`);
        case 'AWS::SQS::Queue':
          return this.arn('sqs', name);
        case 'AWS::IAM::Role':
          return this.arn('iam', `role/${name}`, false);
      }
    }
    throw new Error(
      `cannot resolve Fn::GetAtt ${id}.${attribute} (${type}); add that resource type to TemplateResolver`,
    );
  }

  /** Resolves a template value to a string. */
  resolve(node: Json): string {
    if (typeof node === 'string') return node;
    if (typeof node === 'number' || typeof node === 'boolean') return String(node);
    if (node && typeof node === 'object' && !Array.isArray(node)) {
      const o = node as Record<string, Json>;
      const [fn] = Object.keys(o);
      const arg = fn ? o[fn] : undefined;
      switch (fn) {
        case 'Ref':
          return this.ref(arg as string);
        case 'Fn::GetAtt': {
          const [id, attribute] = Array.isArray(arg) ? arg : String(arg).split('.');
          return this.getAtt(id as string, attribute as string);
        }
        case 'Fn::Join': {
          const [sep, parts] = arg as [string, Json[]];
          return parts.map((p) => this.resolve(p)).join(sep);
        }
        case 'Fn::Select': {
          const [index, list] = arg as [Json, Json];
          return this.resolveList(list)[Number(this.resolve(index))] ?? '';
        }
        case 'Fn::Sub': {
          const [text, vars = {}] = (Array.isArray(arg) ? arg : [arg]) as [string, Record<string, Json>?];
          return text.replace(/\$\{([^}!]+)\}/g, (_, name: string) => {
            if (name in vars) return this.resolve(vars[name]);
            const [id, attribute] = name.split('.');
            return attribute ? this.getAtt(id as string, attribute) : this.ref(id as string);
          });
        }
      }
    }
    throw new Error(`cannot resolve ${JSON.stringify(node)}; add that intrinsic function to TemplateResolver`);
  }

  private resolveList(node: Json): string[] {
    if (Array.isArray(node)) return node.map((n) => this.resolve(n));
    const split = (node as Record<string, Json>)?.['Fn::Split'] as [string, Json] | undefined;
    if (split) return this.resolve(split[1]).split(split[0]);
    throw new Error(`cannot resolve the list ${JSON.stringify(node)}; add that intrinsic function to TemplateResolver`);
  }

  /** Every statement of the identity policies attached to role `roleId`: AWS::IAM::Policy, managed and inline. */
  statementsOfRole(roleId: string): Statement[] {
    const role = this.resource(roleId);
    if (role.Type !== 'AWS::IAM::Role') throw new Error(`${roleId} is a ${role.Type}, not an AWS::IAM::Role`);
    const documents: Array<[string, Json]> = [];
    for (const p of (role.Properties?.Policies as Array<{ PolicyDocument: Json }> | undefined) ?? []) {
      documents.push([`${roleId} (inline)`, p.PolicyDocument]);
    }
    if (role.Properties?.ManagedPolicyArns) {
      throw new Error(`${roleId} has managed policies, which this evaluator cannot read; grant with CDK instead`);
    }
    for (const [id, r] of Object.entries(this.template.Resources)) {
      if (r.Type !== 'AWS::IAM::Policy' && r.Type !== 'AWS::IAM::ManagedPolicy') continue;
      const roles = (r.Properties?.Roles as Json[] | undefined) ?? [];
      if (roles.some((x) => this.resolve(x) === this.nameOf(roleId)))
        documents.push([id, r.Properties?.PolicyDocument]);
    }
    return documents.flatMap(([policy, doc]) => {
      const raw = (doc as { Statement: Json[] | Json }).Statement;
      return (Array.isArray(raw) ? raw : [raw]).map((s) => this.statement(policy, s as Record<string, Json>));
    });
  }

  private statement(policy: string, s: Record<string, Json>): Statement {
    for (const unsupported of ['NotAction', 'NotResource', 'NotPrincipal']) {
      if (unsupported in s) throw new Error(`${policy} uses ${unsupported}, which this evaluator does not handle`);
    }
    if (s.Effect !== 'Allow') {
      throw new Error(`${policy} has a ${String(s.Effect)} statement; this evaluator handles Allow statements only`);
    }
    const list = (v: Json) => (Array.isArray(v) ? v : [v]).map((x) => this.resolve(x));
    return {
      sid: s.Sid as string | undefined,
      policy,
      actions: list(s.Action),
      resources: list(s.Resource),
      conditions: s.Condition as Statement['conditions'],
    };
  }
}

const glob = (pattern: string, flags = '') =>
  new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    flags,
  );

/** `*`/`?` wildcards, case-insensitive (IAM action names are). */
export function actionMatches(pattern: string, action: string): boolean {
  return glob(pattern, 'i').test(action);
}

/** ARN match: the first five segments one by one, the resource part (which may hold `:` and `/`) as a whole. */
export function resourceMatches(pattern: string, arn: string): boolean {
  if (pattern === '*') return true;
  const split = (s: string) => {
    const parts = s.split(':');
    return [...parts.slice(0, 5), parts.slice(5).join(':')];
  };
  const p = split(pattern);
  const a = split(arn);
  if (p.length !== a.length) return false;
  return p.every((segment, i) => glob(segment).test(a[i] as string));
}

function conditionsHold(conditions: Statement['conditions'], context: Record<string, string> = {}): boolean {
  if (!conditions) return true;
  return Object.entries(conditions).every(([operator, keys]) => {
    if (operator !== 'StringEquals' && operator !== 'StringLike') return false;
    return Object.entries(keys).every(([key, expected]) => {
      const value = context[key];
      if (value === undefined) return false;
      const options = Array.isArray(expected) ? expected : [expected];
      return options.some((o) => (operator === 'StringEquals' ? o === value : glob(o).test(value)));
    });
  });
}

/** The statements that allow `req`; empty when none does. */
export function allowingStatements(statements: Statement[], req: Requirement): Statement[] {
  return statements.filter(
    (s) =>
      s.actions.some((a) => actionMatches(a, req.action)) &&
      s.resources.some((r) => resourceMatches(r, req.resource)) &&
      conditionsHold(s.conditions, req.context),
  );
}

import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { propError } from './checks';

export interface ContactTableProps {
  /**
   * Customer-managed KMS key for the table.
   * @default - an AWS-managed key (`aws/dynamodb`)
   */
  readonly encryptionKey?: kms.IKey;
  /**
   * Attribute holding an item's expiry (epoch seconds); DynamoDB deletes expired items.
   * @default 'expiresAt'
   */
  readonly timeToLiveAttribute?: string;
}

/**
 * The single table: pseudonymous contacts per list, list snapshots, suppression, synced audience state and runs,
 * keyed by `pk` / `sk` (see docs/architecture.md "Suggested storage shape").
 */
export class ContactTable extends Construct {
  /** The DynamoDB table. */
  public readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: ContactTableProps = {}) {
    super(scope, id);
    const ttl = props.timeToLiveAttribute ?? 'expiresAt';
    if (!/^[A-Za-z_][A-Za-z0-9_.-]{0,254}$/.test(ttl)) {
      throw propError(
        this,
        `timeToLiveAttribute must be an attribute name like "expiresAt"; received ${JSON.stringify(ttl)}.`,
      );
    }
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: props.encryptionKey
        ? dynamodb.TableEncryption.CUSTOMER_MANAGED
        : dynamodb.TableEncryption.AWS_MANAGED,
      encryptionKey: props.encryptionKey,
      timeToLiveAttribute: ttl,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
}

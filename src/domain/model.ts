// The compiled runtime model: what the YAML config becomes after validation.
// Produced once by config/compile.ts, frozen, and read by every pure decision
// (classify, policy, routing). Holds plain data only, so tests can build it by hand.
import type { PipelineModel } from '../config/sections/pipeline.js';
import type { SenderModel } from '../config/sections/sender.js';
import type { SigningModel } from '../config/sections/signing.js';
import type { ContentModel } from '../config/sections/content.js';
import type { RulesModel } from '../config/sections/rules.js';
import type { OperationsModel } from '../config/sections/operations.js';
import type { ClusterModel } from '../config/sections/cluster.js';

/** The feature sections' parts of the model (config/sections/), one per feature. */
export type SectionModels = PipelineModel & SenderModel & SigningModel & ContentModel & RulesModel & OperationsModel & ClusterModel;

export type ConnectorType = 'OnPremises' | 'Partner';
export type TlsSettings = 'EncryptionOnly' | 'CertificateValidation' | 'DomainValidation' | null;
export type AcceptedDomainType = 'Authoritative' | 'InternalRelay';
export type RouteClass = 'exact' | 'allAcceptedDomains' | 'wildcard';

/** A compiled domain pattern: "*" (any), "contoso.com" (exact) or "*.contoso.com" (the domain and every subdomain). */
export interface DomainPattern {
  readonly raw: string;
  readonly kind: 'any' | 'exact' | 'wildcard';
  /** Lower-case ASCII (punycode) domain without trailing dot; for wildcard, the parent ("contoso.com"). */
  readonly domain: string;
}

/** A compiled IP rule: a single address, CIDR or first-last range, as an inclusive integer interval. */
export interface IpRule {
  readonly raw: string;
  readonly family: 4 | 6;
  readonly first: bigint;
  readonly last: bigint;
}

export interface SmartHost {
  readonly host: string;
  /** null = use the default port (25, or delivery.mxPort for MX-routed delivery). */
  readonly port: number | null;
}

export type RecipientValidationMode = 'None' | 'List' | 'Callout';

export interface RecipientValidation {
  readonly mode: RecipientValidationMode;
  /** Absolute path of the valid-address list (mode List). */
  readonly list: string | null;
  readonly cacheMs: number;
}

export interface AcceptedDomain {
  readonly domain: string;
  readonly type: AcceptedDomainType;
  /** Left out (hand-built models) = mode None. */
  readonly recipientValidation?: RecipientValidation;
}

export interface InboundConnector {
  readonly name: string;
  readonly enabled: boolean;
  readonly connectorType: ConnectorType;
  readonly senderDomains: readonly DomainPattern[];
  readonly senderIPAddresses: readonly IpRule[];
  readonly tlsSenderCertificateName: DomainPattern | null;
  readonly requireTls: boolean;
  readonly restrictDomainsToIPAddresses: boolean;
  readonly restrictDomainsToCertificate: boolean;
  /** Lower-case ASCII domains; empty = applies to every accepted domain. */
  readonly associatedAcceptedDomains: readonly string[];
  readonly cloudServicesMailEnabled: boolean;
  /** OnPremises only: stamp its mail Internal / Originating (header trust boundary). Left out = false. */
  readonly treatMessagesAsInternal?: boolean;
  readonly comment: string;
  /** Enhanced filtering: judge the IP before the last hop (the gateway in front of Sluice). */
  readonly efSkipLastIP: boolean;
  /** Enhanced filtering: gateway IPs to skip in the Received: chain. */
  readonly efSkipIPs: readonly IpRule[];
  /** Lower-case recipient addresses enhanced filtering applies to; empty = all. */
  readonly efUsers: readonly string[];
}

export interface OutboundConnector {
  readonly name: string;
  readonly enabled: boolean;
  readonly connectorType: ConnectorType;
  readonly allAcceptedDomains: boolean;
  readonly recipientDomains: readonly DomainPattern[];
  readonly smartHosts: readonly SmartHost[];
  readonly useMxRecord: boolean;
  readonly tlsSettings: TlsSettings;
  readonly tlsDomain: string | null;
  readonly tlsCa: readonly string[];
  readonly tlsCert: string | null;
  readonly tlsKey: string | null;
  readonly isTransportRuleScoped: boolean;
  readonly cloudServicesMailEnabled: boolean;
  readonly maxMessagesPerConnection: number;
  readonly maxConnections: number;
  /** Where `sluice validate` sends its test message (EOP's ValidationRecipients). */
  readonly validationRecipients: readonly string[];
  readonly comment: string;
}

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
  /** Connections must start with a PROXY protocol header from server.trustedProxies. */
  readonly proxyProtocol: boolean;
}

export interface ServerLimits {
  readonly maxMessageSize: number; // bytes
  readonly maxRecipients: number;
  readonly maxConnections: number;
  readonly maxConnectionsPerIp: number;
  readonly maxMessagesPerConnection: number;
  readonly idleTimeoutMs: number;
  /** Pause before the 220; a client that talks during it gets 421 (0 = greet at once, no check). */
  readonly greetingDelayMs: number;
  /** One command line, from the reply before it to its CRLF, however slowly it trickles in. */
  readonly commandTimeoutMs: number;
  /** The message, from the 354 to the final dot. */
  readonly dataTimeoutMs: number;
  /** The whole connection. */
  readonly maxSessionDurationMs: number;
}

export interface DeliveryTimeouts {
  /** TCP connect (with the address lookup nodemailer may do). */
  readonly connectMs: number;
  /** The 220 greeting, and the TLS handshake after STARTTLS. */
  readonly greetingMs: number;
  /** Each reply to EHLO, STARTTLS, MAIL FROM, RCPT TO, RSET. */
  readonly commandMs: number;
  /** The 354 reply to DATA. */
  readonly dataInitMs: number;
  /** Inactivity while the message is written (the peer stops reading). */
  readonly dataTransferMs: number;
  /** The reply after the final dot. */
  readonly dataDoneMs: number;
}

export interface Model extends SectionModels {
  /** Absolute path of the file this model was loaded from (for messages). */
  readonly source: string;
  readonly server: {
    readonly hostname: string;
    readonly listen: readonly ListenAddress[];
    /** Who may send a PROXY protocol header (to a proxyProtocol listener). */
    readonly trustedProxies: readonly IpRule[];
    readonly tls: {
      readonly cert: string;
      readonly key: string;
      readonly clientCa: readonly string[];
      /** true only for the embedded development config: create certificates if missing. */
      readonly generateDevCertificates: boolean;
    };
    readonly limits: ServerLimits;
    /** SIGTERM drain: sessions in flight may finish within this, then get 421 4.3.2. */
    readonly drainTimeoutMs: number;
  };
  /** `journal`: fresh small messages in one group-committed log until their first attempt ends (queue/spool-journal.ts). */
  readonly spool: { readonly dir: string; readonly journal: boolean };
  readonly dns: { readonly servers: readonly string[] };
  readonly delivery: {
    readonly mxPort: number;
    readonly softBounce: boolean;
    /** Send one "delayed" DSN after this long in the queue; null = off (EOP's default). */
    readonly delayWarningMs: number | null;
    readonly retry: { readonly initialMs: number; readonly maxMs: number; readonly lifetimeMs: number };
    /** Outbound SMTP stage timeouts (Postfix smtp_connect/helo/mail/rcpt/data_init/data_xfer/data_done). */
    readonly timeouts: DeliveryTimeouts;
    readonly concurrency: {
      /** Concurrent deliveries to one MX destination domain (Postfix default_destination_concurrency_limit). */
      readonly perDomain: number;
      /** Concurrent deliveries of the whole process: a last line of defence, not the scheduler. */
      readonly total: number;
    };
    /** A host that failed at the session level is skipped this long (Postfix's dead-host cache). */
    readonly hostDownMs: number;
  };
  readonly routing: { readonly precedence: readonly RouteClass[] };
  readonly organization: {
    /** SRS0 rewriting of the sender for redirected and blind-copied mail leaving for another domain. */
    readonly senderRewriting: { readonly enabled: boolean; readonly secret: string | null; readonly domain: string | null };
    /** EOP's RejectDirectSend: refuse anonymous mail whose MAIL FROM is in an accepted domain (5.7.68). */
    readonly rejectDirectSend: boolean;
  };
  readonly acceptedDomains: readonly AcceptedDomain[];
  readonly inboundConnectors: readonly InboundConnector[];
  readonly outboundConnectors: readonly OutboundConnector[];
}

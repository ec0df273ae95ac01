// The compiled runtime model: what the YAML config becomes after validation.
// Produced once by config/compile.ts, frozen, and read by every pure decision
// (classify, policy, routing). Holds plain data only, so tests can build it by hand.
import type { PipelineModel } from '../config/sections/pipeline.js';
import type { SenderModel } from '../config/sections/sender.js';
import type { SigningModel } from '../config/sections/signing.js';
import type { ContentModel } from '../config/sections/content.js';
import type { RulesModel } from '../config/sections/rules.js';
import type { OperationsModel } from '../config/sections/operations.js';

/** The feature sections' parts of the model (config/sections/), one per feature. */
export type SectionModels = PipelineModel & SenderModel & SigningModel & ContentModel & RulesModel & OperationsModel;

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

export interface AcceptedDomain {
  readonly domain: string;
  readonly type: AcceptedDomainType;
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
  readonly comment: string;
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
  };
  readonly spool: { readonly dir: string };
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
    /** EOP's RejectDirectSend: refuse anonymous mail whose MAIL FROM is in an accepted domain (5.7.68). */
    readonly rejectDirectSend: boolean;
  };
  readonly acceptedDomains: readonly AcceptedDomain[];
  readonly inboundConnectors: readonly InboundConnector[];
  readonly outboundConnectors: readonly OutboundConnector[];
}

// EOP's enumerations with the numeric values `ConvertTo-Json` writes for them when the cmdlet
// output is not turned into strings first (Microsoft.Exchange.Data and the transport rule tasks):
// TenantConnectorType, TlsAuthLevel (EncryptionOnly = 1, CertificateValidation, DomainValidation
// = 4), TenantConnectorSource, AcceptedDomainType, FromUserScope/ToUserScope, RuleMode (from 1).

export const CONNECTOR_TYPE = { names: ['OnPremises', 'Partner'] as const, numbers: { 1: 'OnPremises', 2: 'Partner' } as const };
export const TLS_SETTINGS = {
  names: ['EncryptionOnly', 'CertificateValidation', 'DomainValidation'] as const,
  numbers: { 1: 'EncryptionOnly', 2: 'CertificateValidation', 4: 'DomainValidation' } as const,
};
export const CONNECTOR_SOURCE = {
  names: ['Default', 'Migrated', 'HybridWizard', 'AdminUI'] as const,
  numbers: { 0: 'Default', 1: 'Migrated', 2: 'HybridWizard' } as const,
};
export const ACCEPTED_DOMAIN_TYPE = {
  names: ['Authoritative', 'ExternalRelay', 'InternalRelay'] as const,
  numbers: { 0: 'Authoritative', 1: 'ExternalRelay', 2: 'InternalRelay' } as const,
};
export const FROM_SCOPE = { names: ['InOrganization', 'NotInOrganization'] as const, numbers: { 0: 'InOrganization', 1: 'NotInOrganization' } as const };
export const TO_SCOPE = {
  names: ['InOrganization', 'NotInOrganization', 'ExternalPartner', 'ExternalNonPartner'] as const,
  numbers: { 0: 'InOrganization', 1: 'NotInOrganization', 2: 'ExternalPartner', 3: 'ExternalNonPartner' } as const,
};
export const RULE_MODE = { names: ['Audit', 'AuditAndNotify', 'Enforce'] as const, numbers: { 1: 'Audit', 2: 'AuditAndNotify', 3: 'Enforce' } as const };
export const RULE_STATE = { names: ['Enabled', 'Disabled'] as const, numbers: { 0: 'Enabled', 1: 'Disabled' } as const };

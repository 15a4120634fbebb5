/**
 * What enrollment needs of the broker: a gateway's own credentials, issued and revoked. The hub
 * wires it to the embedded broker's credentials file (hub/broker/gateway-credentials.ts).
 */
export interface GatewayCredentialIssuer {
  /** Creates (or rotates) the gateway's broker user; returns the password, shown once. */
  issue(gateway: string, site: string): Promise<{ readonly username: string; readonly password: string }>;
  /** Removes the user; connected clients with it are disconnected at once. */
  revoke(username: string): Promise<boolean>;
  /** Whether a broker user of this name exists (an id taken by hand, not by enrollment). */
  exists(username: string): boolean;
}

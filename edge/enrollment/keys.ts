/** The gateway's own key pair (Ed25519): generated on the gateway, its private half never leaves it. */
import { generateKeyPairSync, sign } from 'node:crypto';
import { enrollProofMessage } from '../../shared/wire/enrollment.js';

export interface GatewayKeyPair {
  readonly publicKeyPem: string;
  readonly privateKeyPem: string;
}

export function generateGatewayKey(): GatewayKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return {
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

/** The proof of possession sent with the enrollment request (base64 Ed25519 signature). */
export function signEnrollProof(key: GatewayKeyPair, tokenId: string): string {
  return sign(null, enrollProofMessage(tokenId, key.publicKeyPem), key.privateKeyPem).toString('base64');
}

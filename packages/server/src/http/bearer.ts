/** The token of an `Authorization: Bearer …` header; undefined for none or another scheme. Control plane and relays read it so. */
export function bearerToken(header: string | undefined): string | undefined {
  // The scheme name is case-insensitive (RFC 9110 §11.1).
  return /^bearer +(.+)$/iu.exec(header ?? '')?.[1]?.trim();
}

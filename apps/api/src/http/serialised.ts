// Answers cached already serialised (docs/places.md, "Performance"): serialised once by the route's own
// response serializer, so the cached bytes are exactly what returning the object would send, and a hit
// costs neither the computation nor the serialisation, nor the UTF-8 encoding a string costs on every
// write (the profile showed the socket write of string bodies as the largest item).

/** What the two helpers need of a Fastify reply (any route's typed reply fits). */
interface RawReply {
  serialize(payload: unknown): unknown;
  type(contentType: string): unknown;
}
/** A route's typed `send` takes only its schema's objects; the bytes already are one, serialised. */
interface SendsBytes {
  send(payload: Buffer): unknown;
}

/** `payload` as the route's 200 serializer writes it, UTF-8 encoded. */
export const serialise = (reply: RawReply, payload: unknown): Buffer =>
  Buffer.from(String(reply.serialize(payload)), 'utf8');

/** Sends a body made by `serialise` as is (Fastify sends a Buffer untouched). */
export const sendSerialised = (reply: RawReply, body: Buffer): void => {
  (reply.type('application/json; charset=utf-8') as SendsBytes).send(body);
};

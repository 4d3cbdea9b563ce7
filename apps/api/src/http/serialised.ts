// Answers cached already serialised (docs/places.md, "Performance"): serialised once by the route's own
// response serializer, so the cached text is byte for byte what returning the object would send, and a
// hit costs neither the computation nor the serialisation again.

/** What the two helpers need of a Fastify reply (any route's typed reply fits). */
interface RawReply {
  serialize(payload: unknown): unknown;
  type(contentType: string): unknown;
}
/** A route's typed `send` takes only its schema's objects; the text already is one, serialised. */
interface SendsText {
  send(payload: string): unknown;
}

/** `payload` as the route's 200 serializer writes it. */
export const serialise = (reply: RawReply, payload: unknown): string => String(reply.serialize(payload));

/** Sends a body made by `serialise` as is (Fastify does not serialise a string sent as JSON again). */
export const sendSerialised = (reply: RawReply, body: string): void => {
  (reply.type('application/json; charset=utf-8') as SendsText).send(body);
};

/**
 * Errors of the Bitfinex sources.
 *
 * @module
 */
/** A pair Bitfinex does not know: fatal (the producer exits 2 naming it). */
export class UnknownPairError extends Error {
  /** The pairs Bitfinex refused. */
  readonly pairs: string[];
  /**
   * @param pairs The refused pairs.
   * @param detail Bitfinex's own message.
   */
  constructor(pairs: string[], detail: string) {
    super(
      `Bitfinex does not know the pair ${
        pairs.join(", ")
      } (${detail}): check COINS`,
    );
    this.name = "UnknownPairError";
    this.pairs = pairs;
  }
}

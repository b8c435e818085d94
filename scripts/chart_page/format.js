// Number formats shared by the chart page and the pipeline page (an ES
// module, so the unit tests import it too).

/**
 * Decimals to show for a price: Bitfinex quotes 5 significant digits, and
 * a price keeps at least 2 decimals (BTC "65,939.32", XRP "0.52341").
 *
 * @param {number} price
 * @returns {number} From 2 to 8.
 */
export function priceDecimals(price) {
  if (!Number.isFinite(price) || price === 0) return 2;
  const magnitude = Math.floor(Math.log10(Math.abs(price)));
  return Math.min(8, Math.max(2, 4 - magnitude));
}

/**
 * A price with its pair's precision and thousands separators.
 *
 * @param {number} price
 * @returns {string} Such as "65,939.32".
 */
export function formatPrice(price) {
  const digits = priceDecimals(price);
  return price.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/**
 * A count with thousands separators.
 *
 * @param {number} n
 * @returns {string}
 */
export function formatCount(n) {
  return Math.round(n).toLocaleString("en-US");
}

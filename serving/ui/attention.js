// Attention weights as people read them: BPE pieces merged into words, weights into shades.

const WORD_START = "\u2581"; // Metaspace marks the first piece of each word with "▁"
const SPECIAL = /^<\/?[a-z]+>$/; // </s>, <unk>, ... stay words of their own

/**
 * Group BPE pieces into words.
 * @param {string[]} pieces tokens as the API returns them
 * @returns {{word: string, pieces: number[]}[]} each word and the indices of its pieces
 */
export function mergePieces(pieces) {
  const words = [];
  pieces.forEach((piece, i) => {
    const last = words[words.length - 1];
    const special = SPECIAL.test(piece);
    if (!last || special || last.special || piece.startsWith(WORD_START)) {
      words.push({ word: special ? piece : piece.replace(WORD_START, ""), pieces: [i], special });
    } else {
      last.word += piece;
      last.pieces.push(i);
    }
  });
  return words.map(({ word, pieces: indices }) => ({ word, pieces: indices }));
}

/**
 * The word-level attention grid: a target word's row is the mean of its pieces' rows, a source word's
 * column the sum of its pieces' columns, so each row is still a distribution over the source words.
 * @param {number[][]} weights (target pieces, source pieces)
 * @returns {number[][]} (target words, source words)
 */
export function wordGrid(weights, targetWords, sourceWords) {
  return targetWords.map(({ pieces: rows }) =>
    sourceWords.map(({ pieces: cols }) => {
      let total = 0;
      for (const r of rows) for (const c of cols) total += weights[r][c];
      return total / rows.length;
    }),
  );
}

/** A background shade for weight `w` in [0, 1] (blue by default). */
export function shade(w, rgb = "30, 100, 255") {
  return `rgba(${rgb}, ${Math.max(0, Math.min(1, w)).toFixed(3)})`;
}

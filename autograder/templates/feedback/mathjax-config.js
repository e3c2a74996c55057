// MathJax 3 settings for feedback pages: the notebook's $...$ and $$...$$, and the "safe" extension,
// which refuses \href{javascript:...} and other unsafe URLs in a student's formulas.
window.MathJax = {
  loader: { load: ["ui/safe"] },
  tex: {
    inlineMath: [["$", "$"], ["\\(", "\\)"]],
    displayMath: [["$$", "$$"], ["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
  },
};

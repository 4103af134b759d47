/** The part of jStat (a CommonJS module without type declarations) the experiment's statistics use. */
declare module 'jstat' {
  const jstat: { readonly jStat: { readonly studentt: { cdf(x: number, dof: number): number } } };
  export = jstat;
}

// The builder's webpack loads .svg files as their text (what LabIcon takes).
declare module '*.svg' {
  const svgstr: string;
  export default svgstr;
}

import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { renderSvgTimeline } from './report-svg.ts';
import { reportFixture } from './testing/report-fixture.ts';

type XmlNode = { [key: string]: XmlNode | XmlNode[] | string | number };

/** Every element named `tag` in the parsed document, depth first. */
function elements(node: unknown, tag: string): XmlNode[] {
  if (Array.isArray(node)) return node.flatMap((each) => elements(each, tag));
  if (typeof node !== 'object' || node === null) return [];
  return Object.entries(node as XmlNode).flatMap(([key, child]) => [...(key === tag ? [child].flat().filter((each): each is XmlNode => typeof each === 'object') : []), ...elements(child, tag)]);
}

function parse(svg: string): unknown {
  expect(XMLValidator.validate(svg)).toBe(true);
  return new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', parseAttributeValue: false, parseTagValue: false }).parse(svg);
}

const withClass = (nodes: XmlNode[], name: string): XmlNode[] => nodes.filter((node) => typeof node['@class'] === 'string' && node['@class'].split(' ').includes(name));

describe('the SVG timeline', () => {
  it('is well-formed, self-contained SVG about 1200 wide', () => {
    const svg = renderSvgTimeline(reportFixture());
    const [root] = elements(parse(svg), 'svg');
    expect(root?.['@xmlns']).toBe('http://www.w3.org/2000/svg');
    expect(root?.['@width']).toBe('1200');
    expect(svg).not.toMatch(/<script|<image|@import|@font-face|href="http/i);
  });

  it('has one labelled lane per assembly, in the report’s order', () => {
    const texts = elements(parse(renderSvgTimeline(reportFixture())), 'text');
    expect(withClass(texts, 'lane-label').map((label) => label['#text'])).toEqual(['shop/db', 'shop/app', 'shop/web', 'blog/db', 'blog/web']);
  });

  it('grows with the lanes', () => {
    const report = reportFixture();
    const height = (svg: string): number => Number(elements(parse(svg), 'svg')[0]?.['@height']);
    expect(height(renderSvgTimeline({ ...report, lanes: [...report.lanes, 'wiki/db', 'wiki/web'] }))).toBeGreaterThan(height(renderSvgTimeline(report)));
  });

  it('marks every fault’s injection, the cloud-API one as a band across the lanes', () => {
    const document = parse(renderSvgTimeline(reportFixture()));
    const injections = withClass(elements(document, 'path'), 'injection');
    expect(new Set(injections.map((marker) => marker['@data-fault']))).toEqual(new Set(['0', '1', '2', '3', '4', '5', '6', '7']));
    expect(withClass(elements(document, 'rect'), 'api-band')).toHaveLength(1);
    expect(withClass(elements(document, 'g'), 'api-fault')[0]?.['@data-fault']).toBe('5');
  });

  it('marks detections, recoveries and the fault given up on', () => {
    const document = parse(renderSvgTimeline(reportFixture()));
    expect(withClass(elements(document, 'path'), 'detection')).toHaveLength(7);
    expect(withClass(elements(document, 'rect'), 'recovery')).toHaveLength(6);
    expect(withClass(elements(document, 'path'), 'gave-up')).toHaveLength(1);
  });

  it('draws the ladder steps, failed and skipped ones told apart', () => {
    const groups = elements(parse(renderSvgTimeline(reportFixture())), 'g');
    expect(withClass(groups, 'step')).toHaveLength(12);
    expect(withClass(groups, 'step-failed')).toHaveLength(5);
    expect(withClass(groups, 'step-skipped')).toHaveLength(1);
  });

  it('labels each disruption on a dashed line', () => {
    const [disruption] = withClass(elements(parse(renderSvgTimeline(reportFixture())), 'g'), 'disruption');
    expect(elements(disruption, 'text')[0]?.['#text']).toBe('kill monitor#1');
  });

  it('escapes names, lanes and targets, and drops control characters XML cannot hold', () => {
    const report = reportFixture();
    const first = report.faults[0];
    if (first === undefined) throw new Error('the fixture has faults');
    report.faults[0] = { ...first, name: '<b>crash</b> & "burn"\u0007', lanes: ['shop/<db>&'] };
    report.lanes[0] = 'shop/<db>&';
    report.disruptions[0] = { kind: 'kill', target: 'monitor<1>&', at: report.runningAt + 1_000, backAt: null };
    const svg = renderSvgTimeline(report);
    expect(svg).toContain('&lt;b&gt;crash&lt;/b&gt; &amp; &quot;burn&quot;<');
    expect(svg).not.toContain('<b>');
    expect(svg).toContain('kill monitor&lt;1&gt;&amp;');
    const document = parse(svg);
    expect(withClass(elements(document, 'text'), 'lane-label')[0]?.['#text']).toBe('shop/<db>&');
  });

  it('still draws a drill without faults or disruptions', () => {
    const svg = renderSvgTimeline({ ...reportFixture(), faults: [], disruptions: [] });
    expect(withClass(elements(parse(svg), 'text'), 'lane-label')).toHaveLength(5);
  });
});

// conveyor console: plain JavaScript over the control API (/api/v1).
// Hash routes: #/ pipelines, #/stage/P/S, #/topics/P, #/topic/P/T,
// #/deadletters/P[/T], #/groups/P. Status is polled every second; rates
// are computed here from successive polls.
'use strict';

(() => {
  const API = '/api/v1';
  const TOKEN_KEY = 'conveyor.console.token';
  const POLL_MS = 1000;
  const FOLLOW_MAX_ROWS = 1000;

  // ---- DOM helpers -------------------------------------------------------

  // h builds an element: attrs may hold class, dataset (data-*), on* handlers
  // and plain attributes; children are nodes or text (never parsed as HTML).
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    setAttrs(el, attrs);
    append(el, children);
    return el;
  }

  const SVG_NS = 'http://www.w3.org/2000/svg';
  function s(tag, attrs, ...children) {
    const el = document.createElementNS(SVG_NS, tag);
    setAttrs(el, attrs);
    append(el, children);
    return el;
  }

  function setAttrs(el, attrs) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'text') el.textContent = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }

  function append(el, children) {
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
  }

  function setText(el, text) {
    if (el && el.textContent !== String(text)) el.textContent = String(text);
  }

  const $ = (sel, root) => (root || document).querySelector(sel);

  function table(cls, headers, rows, attrs) {
    return h('table', Object.assign({ class: cls }, attrs || {}),
      h('thead', null, h('tr', null, headers.map(([label, num]) => h('th', { class: num ? 'num' : null }, label)))),
      h('tbody', null, rows));
  }

  // ---- formatting --------------------------------------------------------

  function fmtRate(r) {
    if (!isFinite(r) || r <= 0) return '0';
    return r < 10 ? r.toFixed(1) : String(Math.round(r));
  }
  const fmtNum = (n) => (n === undefined || n === null || n < 0) ? '–' : Number(n).toLocaleString('en-US');
  function fmtTime(t) {
    if (!t) return '';
    const d = new Date(t);
    return isNaN(d) || d.getFullYear() < 1971 ? '' : d.toISOString().replace('T', ' ').replace('Z', '');
  }
  function fmtValue(v) {
    if (v === undefined) return '';
    return typeof v === 'string' ? v : JSON.stringify(v, null, 1);
  }
  const enc = encodeURIComponent;
  const stateClass = (st) => 'state st-' + st;

  // ---- API ---------------------------------------------------------------

  async function api(path, options) {
    const opts = Object.assign({ headers: {} }, options || {});
    opts.headers.Accept = 'application/json';
    if (opts.method === 'POST') {
      opts.headers['Content-Type'] = 'application/json';
      const token = sessionStorage.getItem(TOKEN_KEY);
      if (token) opts.headers.Authorization = 'Bearer ' + token;
    }
    const res = await fetch(API + path, opts);
    let body = null;
    try { body = await res.json(); } catch (_) { /* not JSON */ }
    if (!res.ok) {
      const err = new Error((body && body.error) || res.status + ' ' + res.statusText);
      err.status = res.status;
      err.body = body;
      throw err;
    }
    return body;
  }

  const post = (path, body) => api(path, { method: 'POST', body: JSON.stringify(body || {}) });

  function notice(msg, bad) {
    const el = $('#notice');
    if (!msg) { el.hidden = true; return; }
    el.hidden = false;
    el.className = bad ? 'bad' : '';
    el.textContent = msg;
  }

  // failed tells the person what went wrong with a change they asked for;
  // a missing or wrong token sends them to the token field.
  function failed(err) {
    if (err.status === 401 || err.status === 403) {
      notice(err.message + (err.status === 401 ? ' Enter the console token above.' : ''), true);
      $('#token').focus();
    } else {
      notice(err.message, true);
    }
  }

  // ---- shared state: status polling and rates ----------------------------

  const state = {
    info: null,          // GET /status
    pipelines: [],       // GET /pipelines
    stages: new Map(),   // "p/s" -> StageStatus
    rates: new Map(),    // "p/s" -> {in, out}
    prev: new Map(),     // "p/s" -> {t, in, out}
    view: null,          // {refresh(), stop()}
    polling: false,
  };

  async function poll() {
    if (state.polling) return;
    state.polling = true;
    try {
      const pipelines = await api('/pipelines');
      const now = performance.now();
      state.pipelines = pipelines;
      state.stages = new Map();
      for (const p of pipelines) {
        for (const st of p.stages) {
          const key = p.name + '/' + st.stage;
          state.stages.set(key, st);
          const prev = state.prev.get(key);
          if (prev && now > prev.t) {
            const secs = (now - prev.t) / 1000;
            const d = (a, b) => (b >= a ? b - a : b); // a counter that went back was reset
            state.rates.set(key, { in: d(prev.in, st.in) / secs, out: d(prev.out, st.out) / secs });
          }
          state.prev.set(key, { t: now, in: st.in, out: st.out });
        }
      }
      if (state.view && state.view.refresh) await state.view.refresh();
    } catch (err) {
      notice('Cannot reach the runner: ' + err.message, true);
    } finally {
      state.polling = false;
    }
  }

  const rateOf = (key) => state.rates.get(key) || { in: 0, out: 0 };

  // ---- routing -----------------------------------------------------------

  const routes = [
    [/^#\/stage\/([^/]+)\/([^/]+)$/, stageView],
    [/^#\/topics\/([^/]+)$/, topicsView],
    [/^#\/topic\/([^/]+)\/([^/]+)$/, topicView],
    [/^#\/deadletters\/([^/]+)$/, deadLetterTopicsView],
    [/^#\/deadletters\/([^/]+)\/([^/]+)$/, deadLettersView],
    [/^#\/groups\/([^/]+)$/, groupsView],
  ];

  function route() {
    if (state.view && state.view.stop) state.view.stop();
    notice('');
    const hash = location.hash || '#/';
    const main = $('#main');
    main.replaceChildren();
    let view = null;
    for (const [re, fn] of routes) {
      const m = hash.match(re);
      if (m) {
        const args = m.slice(1).map(decodeURIComponent);
        view = fn(main, ...args);
        nav(args[0]);
        break;
      }
    }
    if (!view) {
      view = pipelinesView(main);
      nav(null);
    }
    state.view = view;
    if (view.refresh) view.refresh();
  }

  function nav(pipeline) {
    const el = $('#nav');
    const here = location.hash || '#/';
    const link = (href, label) => h('a', { href, class: here === href ? 'current' : null }, label);
    const links = [link('#/', 'Pipelines')];
    if (pipeline) {
      const p = enc(pipeline);
      links.push(link('#/topics/' + p, 'Topics'), link('#/deadletters/' + p, 'Dead letters'), link('#/groups/' + p, 'Groups'));
    }
    el.replaceChildren(...links);
  }

  function crumbs(...parts) {
    const out = [];
    parts.forEach((p, i) => {
      if (i > 0) out.push(h('span', { class: 'muted' }, ' / '));
      out.push(Array.isArray(p) ? h('a', { href: p[1] }, p[0]) : h('span', null, p));
    });
    return h('h1', null, out);
  }

  // ---- pipeline view: the stage graph ------------------------------------

  function pipelinesView(main) {
    const sections = new Map(); // pipeline name -> {el, stagesKey, nodes}

    async function refresh() {
      for (const p of state.pipelines) {
        // A reload that changes the stages or their topics redraws the graph.
        const stagesKey = p.stages.map((st) => [st.stage, (st.from || []).join('+'), st.to || ''].join(':')).join(',');
        let sec = sections.get(p.name);
        if (!sec || sec.stagesKey !== stagesKey) {
          const graph = await api('/pipelines/' + enc(p.name) + '/graph');
          const el = pipelineSection(p, graph);
          if (sec) sec.el.replaceWith(el); else main.append(el);
          sec = { el, stagesKey };
          sections.set(p.name, sec);
        }
        updateNodes(sec.el, p);
        fitGraph(sec.el);
      }
      for (const [name, sec] of sections) {
        if (!state.pipelines.some((p) => p.name === name)) { sec.el.remove(); sections.delete(name); }
      }
      if (state.pipelines.length === 0) main.replaceChildren(h('p', { class: 'muted' }, 'No pipelines are loaded.'));
    }
    return { refresh };
  }

  function pipelineSection(p, graph) {
    const pe = enc(p.name);
    return h('section', { class: 'pipeline', 'data-pipeline': p.name },
      h('div', { class: 'pipeline-head' },
        h('h1', null, p.name),
        h('span', { class: 'muted mono' }, p.file),
        h('span', { class: 'badge' }, p.delivery || 'at_least_once'),
        p.brokers_embedded ? h('span', { class: 'badge', title: 'in-process broker: its data is gone when the runner stops' }, 'embedded broker') : null,
        h('span', { class: 'pipeline-links' },
          h('a', { href: '#/topics/' + pe }, 'Topics'),
          h('a', { href: '#/deadletters/' + pe }, 'Dead letters'),
          h('a', { href: '#/groups/' + pe }, 'Groups'))),
      h('div', { class: 'graph-wrap' }, drawGraph(p.name, graph)),
      h('div', { class: 'legend' },
        h('span', null, '── reads / writes'),
        h('span', null, '- - dynamic route'),
        h('span', { class: 'error-text' }, '- - dead letters'),
        h('span', null, '··· table')));
  }

  const STAGE_W = 176, STAGE_H = 104, TOPIC_W = 156, TOPIC_H = 34, COL_GAP = 36, ROW_GAP = 20;

  // drawGraph lays the graph out left to right, like runner plan reads:
  // each node one column right of everything that feeds it (sources, then
  // their topics, then the transforms reading them, ...).
  function drawGraph(pipeline, graph) {
    const nodes = new Map(); // id -> {id, type, name, preds:[], level, row}
    const edges = [];
    const node = (id, type, name) => {
      if (!nodes.has(id)) nodes.set(id, { id, type, name, preds: [], level: 0, order: nodes.size });
      return nodes.get(id);
    };
    const topicInfo = new Map(graph.topics.map((t) => [t.name, t]));
    for (const st of graph.stages) node('s:' + st.name, 'stage', st.name).stage = st;
    for (const st of graph.stages) {
      const sn = nodes.get('s:' + st.name);
      for (const e of st.reads) {
        const tn = node('t:' + e.topic, 'topic', e.topic);
        sn.preds.push(tn);
        edges.push({ from: tn, to: sn, kind: e.kind });
      }
      for (const e of st.writes) {
        const tn = node('t:' + e.topic, 'topic', e.topic);
        tn.preds.push(sn);
        edges.push({ from: sn, to: tn, kind: e.kind });
      }
    }
    // Longest path from the roots; a cycle stops growing after n rounds.
    const all = [...nodes.values()];
    for (let round = 0; round < all.length; round++) {
      let changed = false;
      for (const n of all) {
        for (const p of n.preds) {
          if (p.level + 1 > n.level && p.level + 1 <= all.length) { n.level = p.level + 1; changed = true; }
        }
      }
      if (!changed) break;
    }
    // Columns, each ordered by where its inputs sit to keep edges short.
    const columns = [];
    for (const n of all) (columns[n.level] = columns[n.level] || []).push(n);
    const height = (n) => (n.type === 'stage' ? STAGE_H : TOPIC_H);
    let totalH = 0;
    const xs = [];
    let x = 0;
    columns.forEach((col, i) => {
      col = col || [];
      columns[i] = col;
      col.forEach((n) => {
        const ys = n.preds.filter((p) => p.y !== undefined).map((p) => p.y + height(p) / 2);
        n.key = ys.length ? ys.reduce((a, b) => a + b, 0) / ys.length : n.order * 10;
      });
      col.sort((a, b) => a.key - b.key || a.order - b.order);
      let y = 0;
      for (const n of col) { n.y = y; y += height(n) + ROW_GAP; }
      totalH = Math.max(totalH, y - ROW_GAP);
      xs[i] = x;
      x += Math.max(...col.map((n) => (n.type === 'stage' ? STAGE_W : TOPIC_W)), 0) + COL_GAP;
    });
    // Centre each column vertically.
    columns.forEach((col, i) => {
      const colH = col.reduce((a, n) => a + height(n) + ROW_GAP, -ROW_GAP);
      const off = (totalH - colH) / 2;
      for (const n of col) { n.y += off; n.x = xs[i]; n.w = n.type === 'stage' ? STAGE_W : TOPIC_W; n.h = height(n); }
    });
    const width = Math.max(x - COL_GAP, 0);
    const box = h('div', { class: 'graph' });
    box.style.width = width + 'px';
    box.style.height = totalH + 'px';
    const svg = s('svg', { class: 'edges', width, height: totalH, viewBox: `0 0 ${width} ${totalH}` });
    for (const e of edges) {
      const x1 = e.from.x + e.from.w, y1 = e.from.y + e.from.h / 2;
      const x2 = e.to.x, y2 = e.to.y + e.to.h / 2;
      const mx = (x1 + x2) / 2;
      svg.append(s('path', { d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`, class: 'e-' + e.kind.replace(' ', '-') }));
    }
    box.append(svg);
    for (const n of all) {
      const el = n.type === 'stage' ? stageNode(pipeline, n.stage) : topicNode(pipeline, n.name, topicInfo.get(n.name));
      el.style.left = n.x + 'px';
      el.style.top = n.y + 'px';
      el.style.width = n.w + 'px';
      el.style.height = n.h + 'px';
      box.append(el);
    }
    return box;
  }

  // fitGraph scales a graph wider than the page down to fit it, so the
  // whole pipeline shows at once (the node's title has the full text).
  function fitGraph(section) {
    const wrap = section.querySelector('.graph-wrap');
    const graph = section.querySelector('.graph');
    const w = parseFloat(graph.style.width), hgt = parseFloat(graph.style.height);
    const scale = Math.min(1, Math.max(0.6, wrap.clientWidth / w));
    graph.style.transform = scale < 1 ? `scale(${scale})` : '';
    graph.style.transformOrigin = '0 0';
    wrap.style.height = (hgt * scale + 24) + 'px';
  }

  function stageNode(pipeline, st) {
    const what = [st.connector, st.delivery].filter(Boolean).join(' · ');
    return h('a', {
      class: 'node stage k-' + st.kind, 'data-stage': pipeline + '/' + st.name,
      href: '#/stage/' + enc(pipeline) + '/' + enc(st.name),
      title: [st.kind + ' ' + st.name, st.detail, st.group && 'group ' + st.group].filter(Boolean).join('\n'),
    },
    h('div', { class: 'line' }, h('span', { class: 'kind' }, st.kind), h('span', { class: 'name' }, st.name)),
    h('div', { class: 'line sub' }, what),
    h('div', { class: 'line' }, h('span', { class: 'state' }, '…'), ' ', h('span', { class: 'reason muted' })),
    h('div', { class: 'figs' }, 'in ', h('span', { class: 'rate-in' }, '0'), '/s  out ', h('span', { class: 'rate-out' }, '0'), '/s'),
    h('div', { class: 'figs muted' }, 'lag ', h('span', { class: 'lag' }, '–'), '  dlq ', h('span', { class: 'dead' }, '0')));
  }

  function topicNode(pipeline, name, info) {
    const cls = ['node', 'topic'];
    if (info && info.dead_letters) cls.push('dead-letters');
    if (info && info.internal) cls.push('internal');
    if (info && info.external) cls.push('external');
    return h('a', { class: cls.join(' '), 'data-topic': name, href: '#/topic/' + enc(pipeline) + '/' + enc(name), title: name }, h('span', { class: 'line' }, name));
  }

  function updateNodes(section, p) {
    for (const st of p.stages) {
      const key = p.name + '/' + st.stage;
      const el = section.querySelector(`[data-stage="${CSS.escape(key)}"]`);
      if (!el) continue;
      const stateEl = el.querySelector('.state');
      setText(stateEl, st.state);
      stateEl.className = stateClass(st.state);
      setText(el.querySelector('.reason'), st.reason || '');
      el.querySelector('.reason').title = st.reason || '';
      const r = rateOf(key);
      setText(el.querySelector('.rate-in'), fmtRate(r.in));
      setText(el.querySelector('.rate-out'), fmtRate(r.out));
      setText(el.querySelector('.lag'), fmtNum(st.lag));
      setText(el.querySelector('.dead'), fmtNum(st.dead_lettered));
    }
  }

  // ---- stage page --------------------------------------------------------

  function stageView(main, pipeline, stage) {
    const key = pipeline + '/' + stage;
    const path = '/pipelines/' + enc(pipeline) + '/stages/' + enc(stage);
    const counters = ['in', 'out', 'filtered', 'dropped', 'dead_lettered', 'failed', 'lag', 'restarts'];
    const action = (name, label, cls) => h('button', {
      id: name, class: cls, type: 'button',
      onclick: async (ev) => {
        const btn = ev.target;
        btn.disabled = true;
        try {
          const st = await post(path + '/' + name);
          notice(stage + ': ' + name + ' done, now ' + st.state);
          showStatus(st); // enables pause or resume as the state wants
          if (name === 'restart') btn.disabled = false;
        } catch (err) {
          failed(err);
          btn.disabled = false;
        }
      },
    }, label);

    main.append(
      crumbs(['pipelines', '#/'], pipeline, stage),
      h('p', { class: 'muted', id: 'stage-what' }),
      h('div', { class: 'toolbar' },
        h('span', null, 'state ', h('span', { id: 'stage-state', class: 'state' }, '…')),
        h('span', { id: 'stage-reason', class: 'error-text' }),
        action('pause', 'Pause'), action('resume', 'Resume'), action('restart', 'Restart', 'danger')),
      h('div', { class: 'cards' },
        h('div', null,
          h('h2', null, 'Records per second'),
          h('p', { class: 'mono' },
            h('span', { class: 'key-in' }, 'in '), h('span', { id: 'stage-in' }, '0'), '/s   ',
            h('span', { class: 'key-out' }, 'out '), h('span', { id: 'stage-out' }, '0'), '/s'),
          s('svg', { id: 'rate-chart', width: 560, height: 180, viewBox: '0 0 560 180', role: 'img', 'aria-label': 'records per second in and out' })),
        h('div', null,
          h('h2', null, 'Counters'),
          h('dl', { class: 'kv' }, counters.map((c) => [h('dt', null, c.replace('_', ' ')), h('dd', { id: 'count-' + c.replace('_', '-') }, '–')])),
          h('p', { class: 'muted', id: 'stage-started' }))),
      h('h2', null, 'Partitions'),
      table('wide', [['topic'], ['partition', 1], ['lag', 1], ['owner']], [], { id: 'stage-partitions' }),
      h('h2', null, 'Last errors'),
      table('wide', [['time'], ['action'], ['step'], ['record'], ['message']], [], { id: 'stage-errors' }),
      h('h2', null, 'Config'),
      h('pre', { id: 'stage-config', class: 'config' }));

    // The group (owners of the partitions) is read at once, then every 5 s.
    let group = null, groupAt = -Infinity;

    function showStatus(st) {
      const stEl = $('#stage-state');
      setText(stEl, st.state);
      stEl.className = stateClass(st.state);
      setText($('#stage-reason'), st.reason || '');
      setText($('#stage-what'), [st.kind, st.connector, st.delivery, st.group && 'group ' + st.group, st.from && 'from ' + st.from.join(', '), st.to && 'to ' + st.to].filter(Boolean).join(' · '));
      for (const c of counters) setText($('#count-' + c.replace('_', '-')), fmtNum(st[c]));
      setText($('#stage-started'), st.started ? 'started ' + fmtTime(st.started) : '');
      setText($('#stage-config'), st.config || '');
      $('#pause').disabled = st.state === 'paused';
      $('#resume').disabled = st.state !== 'paused';
    }

    async function refresh() {
      let detail;
      try { detail = await api(path); } catch (err) { notice(err.message, true); return; }
      const st = detail.status;
      showStatus(st);
      const r = rateOf(key);
      setText($('#stage-in'), fmtRate(r.in));
      setText($('#stage-out'), fmtRate(r.out));
      drawChart($('#rate-chart'), detail.history);
      if (st.group && performance.now() - groupAt > 5000) {
        groupAt = performance.now();
        try { group = await api('/pipelines/' + enc(pipeline) + '/groups/' + enc(st.group)); } catch (_) { group = null; }
      }
      partitions(st, group);
      errors(st.errors || []);
    }

    function partitions(st, group) {
      const rows = new Map(); // "topic/partition" -> row
      const row = (topic, partition) => {
        const k = topic + '/' + partition;
        if (!rows.has(k)) rows.set(k, { topic, partition, lag: -1, owner: '' });
        return rows.get(k);
      };
      if (group) {
        for (const o of group.offsets) row(o.topic, o.partition).lag = o.lag;
        for (const m of group.members) {
          for (const a of m.assignment) row(a.topic, a.partition).owner = [m.instance_id || m.client_id, m.host].filter(Boolean).join(' @ ');
        }
      }
      for (const p of st.partitions || []) {
        const r = row(p.topic, p.partition);
        r.lag = p.lag;
        r.mine = true;
      }
      const sorted = [...rows.values()].sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
      $('#stage-partitions tbody').replaceChildren(...sorted.map((r) => h('tr', null,
        h('td', null, r.topic), h('td', { class: 'num' }, r.partition), h('td', { class: 'num' }, fmtNum(r.lag)),
        h('td', null, r.owner || '', r.mine ? [" ", h('span', { class: 'badge' }, 'this runner')] : null))));
    }

    function errors(list) {
      $('#stage-errors tbody').replaceChildren(...list.slice().reverse().map((e) => h('tr', null,
        h('td', null, fmtTime(e.time)), h('td', null, e.action || 'stopped'), h('td', null, e.step || ''),
        h('td', null, e.topic ? `${e.topic}[${e.partition}]@${e.offset}` : ''),
        h('td', { class: 'error-text' }, e.message))));
    }

    return { refresh };
  }

  // drawChart draws in and out rates over the history in the svg.
  function drawChart(svg, history) {
    const W = 560, H = 180, L = 48, R = 10, T = 10, B = 22;
    const max = Math.max(1, ...history.map((p) => Math.max(p.in_per_s, p.out_per_s)));
    const t0 = history.length ? new Date(history[0].time).getTime() : 0;
    const t1 = history.length ? new Date(history[history.length - 1].time).getTime() : 1;
    const span = Math.max(t1 - t0, 1);
    const px = (t) => L + ((new Date(t).getTime() - t0) / span) * (W - L - R);
    const py = (v) => T + (1 - v / max) * (H - T - B);
    const line = (field) => history.map((p) => `${px(p.time).toFixed(1)},${py(p[field]).toFixed(1)}`).join(' ');
    const parts = [];
    for (const f of [0, 0.5, 1]) {
      const y = py(max * f);
      parts.push(s('line', { class: 'grid', x1: L, x2: W - R, y1: y, y2: y }),
        s('text', { class: 'axis', x: L - 6, y: y + 4, 'text-anchor': 'end' }, fmtRate(max * f)));
    }
    const secs = Math.round(span / 1000);
    parts.push(s('text', { class: 'axis', x: L, y: H - 6 }, history.length > 1 ? `-${secs}s` : 'collecting…'),
      s('text', { class: 'axis', x: W - R, y: H - 6, 'text-anchor': 'end' }, 'now'));
    if (history.length > 1) {
      parts.push(s('polyline', { class: 'line-in', points: line('in_per_s') }), s('polyline', { class: 'line-out', points: line('out_per_s') }));
    }
    svg.replaceChildren(...parts);
  }

  // ---- topics ------------------------------------------------------------

  function topicsView(main, pipeline) {
    main.append(crumbs(['pipelines', '#/'], pipeline, 'topics'),
      table('wide', [['topic'], ['partitions', 1], ['records', 1], ['offsets (partition: start–end, leader)']], [], { id: 'topics' }));
    let last = 0;
    async function refresh() {
      if (performance.now() - last < 2000) return;
      last = performance.now();
      let topics;
      try { topics = await api('/pipelines/' + enc(pipeline) + '/topics'); } catch (err) { notice(err.message, true); return; }
      $('#topics tbody').replaceChildren(...topics.map((t) => h('tr', { 'data-topic': t.name },
        h('td', null, h('a', { href: '#/topic/' + enc(pipeline) + '/' + enc(t.name) }, t.name), t.internal ? h('span', { class: 'badge' }, 'internal') : null),
        h('td', { class: 'num' }, t.partitions.length),
        h('td', { class: 'num' }, fmtNum(t.records)),
        h('td', { class: 'muted' }, t.partitions.map((p) => `${p.partition}: ${p.start}–${p.end} (${p.leader})`).join('   ')))));
    }
    return { refresh };
  }

  function topicView(main, pipeline, topic) {
    const base = '/pipelines/' + enc(pipeline) + '/topics/' + enc(topic) + '/records';
    let next = '';        // where following resumes
    let seq = 0;          // drops answers to superseded requests
    let following = false;
    let busy = false;     // a follow request is in flight

    const fromSel = h('select', { id: 'from' },
      ['beginning', 'end', 'offset', 'time'].map((v) => h('option', { value: v }, v)));
    const fromArg = h('input', { id: 'from-value', type: 'text', placeholder: 'offset or 2025-06-01T12:00:00Z', size: 24 });
    main.append(
      crumbs(['pipelines', '#/'], [pipeline, '#/topics/' + enc(pipeline)], topic),
      h('form', { class: 'toolbar', id: 'records-form', onsubmit: (ev) => { ev.preventDefault(); load(); } },
        h('label', null, 'from', fromSel, fromArg),
        h('label', null, 'partition', h('input', { id: 'partition', type: 'number', min: 0, placeholder: 'all' })),
        h('label', null, 'limit', h('input', { id: 'limit', type: 'number', min: 1, max: 1000, value: 100 })),
        h('label', null, 'where', h('input', { id: 'where', type: 'text', size: 36, placeholder: 'qty > 10 && store == "tampa"' })),
        h('label', null, h('input', { id: 'raw', type: 'checkbox', onchange: load }), 'raw bytes'),
        h('button', { id: 'load', type: 'submit', class: 'primary' }, 'Load'),
        h('label', null, h('input', { id: 'follow', type: 'checkbox', onchange: (ev) => { following = ev.target.checked; } }), 'follow')),
      h('p', { class: 'muted', id: 'records-info' }),
      table('wide', [], [], { id: 'records' }));
    fromSel.value = 'beginning';

    function params(from) {
      const q = new URLSearchParams({ from, limit: $('#limit').value || '100' });
      if ($('#partition').value !== '') q.set('partition', $('#partition').value);
      if ($('#where').value.trim()) q.set('where', $('#where').value.trim());
      if ($('#raw').checked) q.set('raw', 'true');
      return q;
    }

    function header() {
      const raw = $('#raw').checked;
      const cols = ['partition', 'offset', 'timestamp', 'key', 'value', 'headers'].concat(raw ? ['raw key (base64)', 'raw value (base64)'] : []);
      $('#records thead').replaceChildren(h('tr', null, cols.map((c) => h('th', null, c))));
    }

    function row(r) {
      const raw = $('#raw').checked;
      return h('tr', { class: 'record', 'data-partition': r.partition, 'data-offset': r.offset },
        h('td', { class: 'num' }, r.partition), h('td', { class: 'num' }, r.offset), h('td', null, fmtTime(r.timestamp)),
        h('td', null, h('pre', null, fmtValue(r.key))),
        h('td', null, h('pre', null, fmtValue(r.value)), r.decode_error ? h('div', { class: 'error-text' }, r.decode_error) : null),
        h('td', null, h('pre', null, (r.headers || []).map((x) => x.key + ': ' + x.value).join('\n'))),
        raw ? [h('td', null, h('pre', null, r.raw_key_base64 || '')), h('td', null, h('pre', null, r.raw_value_base64 || ''))] : null);
    }

    async function load() {
      const mine = ++seq;
      let from = fromSel.value;
      if (from === 'offset' || from === 'time') from += ':' + fromArg.value.trim();
      header();
      try {
        const page = await api(base + '?' + params(from));
        if (mine !== seq) return;
        next = page.next;
        $('#records tbody').replaceChildren(...page.records.map(row));
        setText($('#records-info'), page.records.length + ' records' + (page.records.length ? '' : ' (follow to see new ones)'));
        notice('');
      } catch (err) {
        if (mine === seq) notice(err.message, true);
      }
    }

    async function follow() {
      if (!following || busy) return;
      busy = true;
      const mine = seq;
      try {
        const page = await api(base + '?' + params('next:' + next));
        if (mine !== seq || !following) return;
        next = page.next || next;
        const body = $('#records tbody');
        body.append(...page.records.map(row));
        while (body.rows.length > FOLLOW_MAX_ROWS) body.deleteRow(0);
        if (page.records.length) setText($('#records-info'), body.rows.length + ' records, following');
      } catch (err) {
        notice(err.message, true);
      } finally {
        busy = false;
      }
    }

    load();
    return { refresh: follow, stop: () => { following = false; seq++; } };
  }

  // ---- dead letters ------------------------------------------------------

  function deadLetterTopicsView(main, pipeline) {
    main.append(crumbs(['pipelines', '#/'], pipeline, 'dead letters'),
      table('wide', [['dead-letter topic'], ['written by'], ['records', 1]], [], { id: 'dead-letter-topics' }));
    let loaded = false;
    async function refresh() {
      if (loaded) return;
      loaded = true;
      try {
        const list = await api('/pipelines/' + enc(pipeline) + '/deadletters');
        $('#dead-letter-topics tbody').replaceChildren(...list.map((d) => h('tr', null,
          h('td', null, h('a', { href: '#/deadletters/' + enc(pipeline) + '/' + enc(d.topic) }, d.topic)),
          h('td', null, d.stages.join(', ')), h('td', { class: 'num' }, fmtNum(d.records)))));
        if (list.length === 0) main.append(h('p', { class: 'muted' }, 'No stage of this pipeline sends dead letters anywhere.'));
      } catch (err) { notice(err.message, true); loaded = false; }
    }
    return { refresh };
  }

  function deadLettersView(main, pipeline, topic) {
    const base = '/pipelines/' + enc(pipeline) + '/deadletters/' + enc(topic);
    let previewed = null; // the request the last preview was for
    main.append(
      crumbs(['pipelines', '#/'], [pipeline, '#/deadletters/' + enc(pipeline)], topic),
      h('p', null, h('a', { href: '#/topic/' + enc(pipeline) + '/' + enc(topic) }, 'browse the topic')),
      h('h2', null, 'Replay'),
      h('form', { class: 'toolbar', id: 'replay-form', onsubmit: (ev) => ev.preventDefault() },
        h('label', null, 'to', h('input', { id: 'replay-to', type: 'text', size: 28, placeholder: 'topic', oninput: invalidate })),
        h('label', null, 'where', h('input', { id: 'replay-where', type: 'text', size: 40, placeholder: 'all dead letters', oninput: invalidate })),
        h('button', { id: 'replay-preview', type: 'button', onclick: () => replay(true) }, 'Preview (dry run)'),
        h('button', { id: 'replay-confirm', type: 'button', class: 'primary', disabled: true, onclick: () => replay(false) }, 'Confirm replay'),
        h('span', { id: 'replay-result', class: 'result' })),
      h('h2', null, 'Dead letters'),
      table('wide', [['partition', 1], ['offset', 1], ['time'], ['stage'], ['step'], ['error'], ['from record'], ['value'], ['headers']], [], { id: 'letters' }));

    function request() {
      return { to: $('#replay-to').value.trim(), where: $('#replay-where').value.trim() };
    }
    function invalidate() {
      previewed = null;
      $('#replay-confirm').disabled = true;
    }

    async function replay(dryRun) {
      const req = request();
      if (!req.to) { notice('Say which topic to replay to.', true); $('#replay-to').focus(); return; }
      const btn = dryRun ? $('#replay-preview') : $('#replay-confirm');
      btn.disabled = true;
      setText($('#replay-result'), dryRun ? 'counting…' : 'replaying…');
      try {
        const res = await post(base + '/replay', Object.assign({ dry_run: dryRun }, req));
        if (dryRun) {
          previewed = JSON.stringify(req);
          setText($('#replay-result'), `would replay ${res.replayed}, skip ${res.skipped}`);
        } else {
          previewed = null;
          setText($('#replay-result'), `replayed ${res.replayed}, skipped ${res.skipped}`);
          loadLetters();
        }
        notice('');
      } catch (err) {
        setText($('#replay-result'), '');
        failed(err);
      } finally {
        $('#replay-preview').disabled = false;
        $('#replay-confirm').disabled = previewed !== JSON.stringify(request());
      }
    }

    async function loadLetters() {
      let letters;
      try { letters = await api(base + '?limit=200'); } catch (err) { notice(err.message, true); return; }
      $('#letters tbody').replaceChildren(...letters.map((l) => {
        const e = l.error || {};
        return h('tr', { class: 'letter', 'data-partition': l.partition, 'data-offset': l.offset },
          h('td', { class: 'num' }, l.partition), h('td', { class: 'num' }, l.offset), h('td', null, fmtTime(l.timestamp)),
          h('td', null, e.stage || ''), h('td', null, e.step || ''), h('td', { class: 'error-text' }, e.message || ''),
          h('td', null, e.topic ? `${e.topic}[${e.partition}]@${e.offset}` : ''),
          h('td', null, h('pre', null, fmtValue(l.value))),
          h('td', null, h('pre', { class: 'muted' }, l.headers.map((x) => x.key + ': ' + x.value).join('\n'))));
      }));
      // Most letters go back where they came from: offer that topic.
      const to = $('#replay-to');
      if (!to.value) {
        const src = letters.map((l) => l.error && l.error.topic).find(Boolean);
        if (src) to.value = src;
      }
    }

    loadLetters();
    return {};
  }

  // ---- consumer groups ---------------------------------------------------

  function groupsView(main, pipeline) {
    main.append(crumbs(['pipelines', '#/'], pipeline, 'consumer groups'), h('div', { id: 'groups' }));
    let last = 0;
    async function refresh() {
      if (performance.now() - last < 2000) return;
      last = performance.now();
      const pe = enc(pipeline);
      let groups;
      try {
        const list = await api('/pipelines/' + pe + '/groups');
        groups = await Promise.all(list.map(async (g) => Object.assign({ summary: g }, await api('/pipelines/' + pe + '/groups/' + enc(g.group)))));
      } catch (err) { notice(err.message, true); return; }
      $('#groups').replaceChildren(...groups.map((g) => h('section', { class: 'group', 'data-group': g.group },
        h('h2', null, g.group, ' ', h('span', { class: 'badge' }, g.state), ' ',
          h('span', { class: 'muted' }, `${g.members.length} members, lag ${fmtNum(g.summary.lag)}`)),
        table('', [['member'], ['client'], ['host'], ['instance'], ['assignment']], g.members.map((m) => h('tr', null,
          h('td', null, m.member_id), h('td', null, m.client_id), h('td', null, m.host), h('td', null, m.instance_id || ''),
          h('td', null, m.assignment.map((a) => a.topic + '[' + a.partition + ']').join(', '))))),
        table('', [['topic'], ['partition', 1], ['committed', 1], ['end', 1], ['lag', 1]], g.offsets.map((o) => h('tr', null,
          h('td', null, o.topic), h('td', { class: 'num' }, o.partition), h('td', { class: 'num' }, fmtNum(o.committed)),
          h('td', { class: 'num' }, fmtNum(o.end)), h('td', { class: 'num' }, fmtNum(o.lag))))))));
      if (groups.length === 0) $('#groups').append(h('p', { class: 'muted' }, 'No consumer groups: this pipeline has no consuming stages.'));
    }
    return { refresh };
  }

  // ---- start -------------------------------------------------------------

  function tokenState() {
    const has = !!sessionStorage.getItem(TOKEN_KEY);
    const ro = state.info && state.info.read_only;
    setText($('#token-state'), ro ? 'read-only runner' : has ? 'token set' : 'no token');
  }

  async function start() {
    $('#token-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const v = $('#token').value.trim();
      if (v) sessionStorage.setItem(TOKEN_KEY, v); else sessionStorage.removeItem(TOKEN_KEY);
      $('#token').value = '';
      tokenState();
      notice(v ? 'Token saved for this tab.' : 'Token cleared.');
    });
    try {
      state.info = await api('/status');
      setText($('#instance'), [state.info.instance, state.info.version].filter(Boolean).join(' · '));
    } catch (err) { notice('Cannot reach the runner: ' + err.message, true); }
    tokenState();
    window.addEventListener('hashchange', route);
    await poll();
    route();
    setInterval(poll, POLL_MS);
  }

  start();
})();

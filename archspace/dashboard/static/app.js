// archspace dashboard: draws the JSON payloads of archspace.dashboard.data with Plotly.
// Live mode fetches them from the server (and polls for changes); report mode reads them from the
// page's inert JSON element. Every text that comes from an experiment goes into the page through
// textContent (never innerHTML), and into Plotly through plotText(), which escapes its markup.
(function () {
  'use strict';
  var body = document.body;
  var MODE = body.dataset.mode;
  var params = new URLSearchParams(location.search);
  var REFRESH = Number(params.get('refresh') || body.dataset.refresh || 2000);
  var PAGE_ROWS = 200;
  var FIRST_PAGE = 200;  // one table page: what the first paint needs
  var FETCH_PAGE = 2000;  // the server's largest page
  var MAX_CURVES = 300;
  var LEGEND_CURVES = 12;  // up to this many curves get a legend; any curve names its trial on hover
  var PRUNED = 'pruned (last value)';
  var report = MODE === 'report' ? JSON.parse(document.getElementById('archspace-data').textContent) : null;
  // Plotly (4.8 MB) is inlined in the report; the live page fetches it alongside its data, so the
  // overview and the table paint while the browser is still parsing it.
  var plotlyReady = window.Plotly ? Promise.resolve() : new Promise(function (resolve, reject) {
    var tag = document.createElement('script');
    tag.src = 'static/plotly.min.js';
    tag.onload = resolve;
    tag.onerror = function () { reject(new Error('cannot load the plotting library')); };
    document.head.appendChild(tag);
  });

  // ---- data source --------------------------------------------------------------------------
  function getJSON(url) {
    return fetch(url, {cache: 'no-store'}).then(function (r) {
      return r.json().then(function (j) {
        if (!r.ok) { throw new Error(j.error || r.statusText); }
        return j;
      });
    });
  }
  var source = {
    list: function () {
      if (report) { return Promise.resolve(report.experiments.map(function (e) { return {key: e.key, name: e.name}; })); }
      return getJSON('api/experiments').then(function (j) { return j.experiments; });
    },
    summary: function (key) {
      return report ? Promise.resolve(report.experiments[key].summary) : getJSON('api/exp/' + key + '/summary');
    },
    // onPage(trialsSoFar, total) after every page, so the first rows paint before the rest arrive
    trials: function (key, onPage) {
      if (report) { onPage(report.experiments[key].trials, report.experiments[key].trials.length); return Promise.resolve(); }
      var all = [];
      function next(offset) {
        return getJSON('api/exp/' + key + '/trials?offset=' + offset + '&limit=' + (offset ? FETCH_PAGE : FIRST_PAGE)).then(function (j) {
          all = all.concat(j.trials);
          onPage(all, j.total);
          if (j.trials.length && all.length < j.total) { return next(all.length); }
        });
      }
      return next(0);
    },
    epochs: function (key) {
      return report ? Promise.resolve(report.experiments[key].epochs) : getJSON('api/exp/' + key + '/epochs');
    },
    pareto: function (key) {
      return report ? Promise.resolve(report.experiments[key].pareto) : getJSON('api/exp/' + key + '/pareto');
    }
  };

  // ---- helpers ------------------------------------------------------------------------------
  function el(tag, attrs) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') { node.textContent = attrs[k]; } else { node.setAttribute(k, attrs[k]); }
    });
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined) { continue; }
      node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return node;
  }
  function $(id) { return document.getElementById(id); }
  // Plotly reads a few HTML-like tags in its strings; entities make every character show as itself
  function plotText(value) {
    return String(value).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  }
  function show(value) { return typeof value === 'string' ? value : JSON.stringify(value); }
  function fmt(x) {
    if (x === null || x === undefined) { return '–'; }
    if (typeof x !== 'number') { return String(x); }
    return Math.abs(x) >= 1e4 || (x !== 0 && Math.abs(x) < 1e-3) ? x.toExponential(3) : String(Math.round(x * 1e4) / 1e4);
  }
  function seconds(s) {
    if (s === null || s === undefined) { return '–'; }
    if (s < 60) { return s.toFixed(2) + ' s'; }
    if (s < 3600) { return (s / 60).toFixed(1) + ' min'; }
    return (s / 3600).toFixed(2) + ' h';
  }
  function plot(id, data, layout) {
    var base = {margin: {l: 50, r: 20, t: 30, b: 40}, height: 320, hovermode: 'closest'};
    return Plotly.react($(id), data, Object.assign(base, layout || {}), {displaylogo: false, responsive: true});
  }
  function whenPlotly(draw) { return plotlyReady.then(draw); }
  function section(id, title) {
    var s = el('section', {id: id}, el('h2', {text: title}));
    $('app').appendChild(s);
    return s;
  }
  function select(id, options, onChange) {
    var s = el('select', {id: id});
    options.forEach(function (o) { s.appendChild(el('option', {value: o[0], text: o[1]})); });
    s.addEventListener('change', onChange);
    return s;
  }

  // ---- state --------------------------------------------------------------------------------
  var state = {experiments: [], key: null, summary: null, trials: [], revision: null,
                sort: {col: 'id', dir: 1}, filter: {status: '', decision: '', value: ''}, page: 0, busy: false};

  function succeeded() {
    return state.trials.filter(function (t) { return t.status === 'succeeded' && typeof t.metric === 'number'; });
  }
  // trials a scheduler stopped early: their metric is the last value they reported, drawn apart
  function pruned() {
    return state.trials.filter(function (t) { return t.status === 'pruned' && typeof t.metric === 'number'; });
  }
  function oneshot() { return state.summary && state.summary.kind === 'oneshot'; }
  function trialName(t) { return 'trial ' + t.id + ' (' + t.status + ')'; }

  // ---- views --------------------------------------------------------------------------------
  function renderError(message) {
    $('app').textContent = '';
    var s = section('error', 'This experiment cannot be shown');
    s.appendChild(el('p', {'class': 'error', text: message}));
    s.appendChild(el('p', {text: 'archspace doctor DIR checks the store and lists what can still be read.'}));
  }

  function renderOverview() {
    var s = state.summary;
    var box = $('overview-body');
    box.textContent = '';
    var c = s.counts;
    var done = c.succeeded + c.failed + c.timeout + c.pruned;
    var best = ['Best ' + (s.direction === 'minimize' ? '(min)' : '(max)'), s.best ? fmt(s.best.metric) + ' (trial ' + s.best.id + ')' : '–'];
    var cards = [
      ['State', s.state], ['Trials', String(s.total)], ['Done', String(done)], ['Succeeded', String(c.succeeded)],
      ['Failed', String(c.failed + c.timeout)], ['Running', String(c.running + c.queued)], ['Pruned', String(c.pruned)],
      best, ['Elapsed', seconds(s.elapsed)], ['Strategy', String(s.strategy || '–')]
    ];
    if (s.kind === 'oneshot') {  // one search, not trials: its epochs and the time they took
      cards = [['State', s.state], ['Epochs', String(s.epochs)], ['Search time', seconds(s.search_seconds)],
               best, ['Strategy', String(s.strategy || '–')]];
    }
    var grid = el('div', {'class': 'cards', id: 'cards'});
    cards.forEach(function (card) {
      grid.appendChild(el('div', {'class': 'card'}, el('div', {'class': 'label', text: card[0]}),
                          el('div', {'class': 'value', 'data-card': card[0], text: card[1]})));
    });
    box.appendChild(grid);
    var table = el('table', {'class': 'config', id: 'config'});
    Object.keys(s.config || {}).sort().forEach(function (k) {
      table.appendChild(el('tr', {}, el('th', {text: k}), el('td', {text: show(s.config[k])})));
    });
    box.appendChild(el('details', {}, el('summary', {text: 'Strategy and settings (stored config)'}), table));
    if (s.bad_rows && s.bad_rows.length) {
      box.appendChild(el('p', {'class': 'error', text: s.bad_rows.length + ' stored trial(s) cannot be read: ' +
                                s.bad_rows.slice(0, 5).join('; ')}));
    }
  }

  var COLUMNS = [['id', 'id'], ['status', 'status'], ['metric', 'metric'], ['duration', 'duration'],
                 ['sample', 'sample'], ['metrics', 'metrics'], ['error', 'error']];

  function cellValue(t, col) {
    if (col === 'sample' || col === 'metrics') { return JSON.stringify(t[col]); }
    return t[col];
  }
  function filtered() {
    var f = state.filter;
    var rows = state.trials.filter(function (t) {
      if (f.status && t.status !== f.status) { return false; }
      if (f.decision && f.value !== '' && JSON.stringify(t.sample[f.decision]) !== f.value) { return false; }
      return true;
    });
    var col = state.sort.col, dir = state.sort.dir;
    rows.sort(function (a, b) {
      var x = cellValue(a, col), y = cellValue(b, col);
      if (x === y) { return a.id - b.id; }
      if (x === null || x === undefined) { return 1; }
      if (y === null || y === undefined) { return -1; }
      return (x < y ? -1 : 1) * dir;
    });
    return rows;
  }

  function renderTable() {
    var rows = filtered();
    var pages = Math.max(1, Math.ceil(rows.length / PAGE_ROWS));
    state.page = Math.min(state.page, pages - 1);
    var tbody = $('trials-body');
    tbody.textContent = '';
    rows.slice(state.page * PAGE_ROWS, (state.page + 1) * PAGE_ROWS).forEach(function (t) {
      var tr = el('tr', {'data-id': String(t.id), 'class': 'status-' + t.status});
      tr.appendChild(el('td', {text: String(t.id)}));
      tr.appendChild(el('td', {text: t.status}));
      tr.appendChild(el('td', {text: fmt(t.metric)}));
      tr.appendChild(el('td', {text: oneshot() ? '–' : seconds(t.duration)}));
      tr.appendChild(el('td', {'class': 'json', text: JSON.stringify(t.sample)}));
      tr.appendChild(el('td', {'class': 'json', text: JSON.stringify(t.metrics)}));
      tr.appendChild(el('td', {'class': 'err', text: t.error ? String(t.error) : ''}));
      tbody.appendChild(tr);
    });
    $('pager-text').textContent = rows.length + ' of ' + state.trials.length + ' trials · page ' + (state.page + 1) + ' of ' + pages;
    Array.prototype.forEach.call(document.querySelectorAll('#trials-table th'), function (th) {
      th.classList.toggle('sorted', th.dataset.col === state.sort.col);
      th.dataset.dir = th.dataset.col === state.sort.col ? (state.sort.dir > 0 ? 'asc' : 'desc') : '';
    });
  }

  function fillValues() {
    var s = $('filter-value');
    var d = state.filter.decision;
    s.textContent = '';
    s.appendChild(el('option', {value: '', text: 'any value'}));
    if (!d) { return; }
    var seen = {};
    state.trials.forEach(function (t) { if (d in t.sample) { seen[JSON.stringify(t.sample[d])] = true; } });
    Object.keys(seen).sort().forEach(function (v) { s.appendChild(el('option', {value: v, text: v})); });
    s.value = seen[state.filter.value] ? state.filter.value : '';
    state.filter.value = s.value;
  }

  function buildTable() {
    var sec = section('trials', oneshot() ? 'Architectures the search derived' : 'Trials');
    var statuses = [['', 'any status']].concat(['succeeded', 'failed', 'timeout', 'pruned', 'running', 'queued', 'interrupted']
      .map(function (x) { return [x, x]; }));
    var decisions = [['', 'any decision']].concat(state.summary.decisions.map(function (d) { return [d, d]; }));
    var bar = el('div', {'class': 'filters'},
      select('filter-status', statuses, function (e) { state.filter.status = e.target.value; state.page = 0; renderTable(); }),
      select('filter-decision', decisions, function (e) { state.filter.decision = e.target.value; state.filter.value = ''; fillValues(); renderTable(); }),
      select('filter-value', [['', 'any value']], function (e) { state.filter.value = e.target.value; state.page = 0; renderTable(); }));
    sec.appendChild(bar);
    var head = el('tr');
    COLUMNS.forEach(function (c) {
      var th = el('th', {'data-col': c[0], text: c[1]});
      th.addEventListener('click', function () {
        state.sort = {col: c[0], dir: state.sort.col === c[0] ? -state.sort.dir : (c[0] === 'metric' && state.summary.direction !== 'minimize' ? -1 : 1)};
        renderTable();
      });
      head.appendChild(th);
    });
    sec.appendChild(el('div', {'class': 'scroll'}, el('table', {id: 'trials-table'}, el('thead', {}, head), el('tbody', {id: 'trials-body'}))));
    var prev = el('button', {id: 'page-prev', text: '‹ previous'});
    var next = el('button', {id: 'page-next', text: 'next ›'});
    prev.addEventListener('click', function () { state.page = Math.max(0, state.page - 1); renderTable(); });
    next.addEventListener('click', function () { state.page += 1; renderTable(); });
    sec.appendChild(el('div', {'class': 'pager'}, prev, el('span', {id: 'pager-text'}), next));
  }

  function bestSoFar(trials, direction) {
    var best = null, xs = [], ys = [];
    trials.forEach(function (t) {
      if (best === null || (direction === 'minimize' ? t.metric < best : t.metric > best)) { best = t.metric; }
      xs.push(t.id); ys.push(best);
    });
    return {x: xs, y: ys};
  }

  function renderMetric() {
    var ok = succeeded();
    var pruned = state.trials.filter(function (t) { return t.status === 'pruned' && typeof t.metric === 'number'; });
    var line = bestSoFar(ok, state.summary.direction);
    plot('plot-metric', [
      {x: ok.map(function (t) { return t.id; }), y: ok.map(function (t) { return t.metric; }), mode: 'markers', type: 'scatter',
       name: 'trial', text: ok.map(function (t) { return plotText(JSON.stringify(t.sample)); }), marker: {size: 6}},
      {x: line.x, y: line.y, mode: 'lines', type: 'scatter', name: 'best so far', line: {shape: 'hv'}},
      {x: pruned.map(function (t) { return t.id; }), y: pruned.map(function (t) { return t.metric; }), mode: 'markers',
       type: 'scatter', name: 'pruned (last value)', marker: {symbol: 'x', size: 6}}
    ], {xaxis: {title: {text: 'trial'}}, yaxis: {title: {text: 'metric'}}});
  }

  // Markers as well as lines: a trial stopped at its first report (or a run of one epoch) has a
  // one-point curve, which a line alone does not draw. Pruned trials are dotted, with crosses.
  function renderCurves() {
    var withCurves = state.trials.filter(function (t) { return t.intermediates && t.intermediates.length; }).slice(-MAX_CURVES);
    plot('plot-curves', withCurves.map(function (t) {
      var stopped = t.status === 'pruned';
      return {x: t.intermediates.map(function (p) { return p[0]; }), y: t.intermediates.map(function (p) { return p[1]; }),
              mode: 'lines+markers', type: 'scatter', name: trialName(t), opacity: 0.7,
              marker: {size: 6, symbol: stopped ? 'x' : 'circle'}, line: {dash: stopped ? 'dot' : 'solid'},
              hovertemplate: plotText(trialName(t)) + '<br>step %{x}<br>value %{y}<extra></extra>'};
    }), {showlegend: withCurves.length <= LEGEND_CURVES, xaxis: {title: {text: 'step'}},
         yaxis: {title: {text: 'reported value'}}});
  }

  function renderMarginal() {
    var d = $('marginal-decision').value;
    if (!d) { return; }
    var has = function (t) { return d in t.sample; };
    var ok = succeeded().filter(has), cut = pruned().filter(has);
    var x = function (t) { return plotText(show(t.sample[d])); };
    var traces = [{type: 'box', boxpoints: 'all', jitter: 0.4, pointpos: 0, name: 'succeeded', x: ok.map(x),
                   y: ok.map(function (t) { return t.metric; }), text: ok.map(trialName)}];
    if (cut.length) {
      traces.push({type: 'scatter', mode: 'markers', name: PRUNED, x: cut.map(x), y: cut.map(function (t) { return t.metric; }),
                   marker: {symbol: 'x', size: 7}, text: cut.map(trialName), hovertemplate: '%{text}<br>%{y}<extra></extra>'});
    }
    plot('plot-marginal', traces, {xaxis: {title: {text: plotText(d)}, type: 'category'}, yaxis: {title: {text: 'metric'}}});
  }

  // Parallel categories (SVG, no WebGL: it draws in any browser, headless ones included): one axis
  // per decision, one for the metric's quartile and, when a scheduler stopped trials, one for the
  // status (pruned trials' metric is their last report); lines coloured by the metric.
  function renderParcoords() {
    var ok = succeeded().concat(pruned()).sort(function (a, b) { return a.id - b.id; });
    if (!ok.length) { Plotly.purge($('plot-parcoords')); return; }
    var sorted = ok.map(function (t) { return t.metric; }).sort(function (a, b) { return a - b; });
    var cuts = [0.25, 0.5, 0.75].map(function (q) { return sorted[Math.floor(q * (sorted.length - 1))]; });
    var names = ['Q1 (low)', 'Q2', 'Q3', 'Q4 (high)'];
    var quartiles = ok.map(function (t) { return names[cuts.filter(function (c) { return t.metric > c; }).length]; });
    var dims = state.summary.decisions.map(function (d) {
      return {label: plotText(d), values: ok.map(function (t) { return plotText(show(t.sample[d])); })};
    });
    // only the quartiles that occur: Plotly's parcats fails to draw at all ("categoryInd" of
    // undefined) when categoryarray names a category no value takes, as few trials leave some empty
    dims.push({label: 'metric quartile', categoryorder: 'array', values: quartiles,
               categoryarray: names.filter(function (n) { return quartiles.indexOf(n) >= 0; })});
    if (ok.some(function (t) { return t.status === 'pruned'; })) {
      dims.push({label: 'status', values: ok.map(function (t) { return t.status === 'pruned' ? PRUNED : t.status; })});
    }
    plot('plot-parcoords', [{type: 'parcats', dimensions: dims, hoveron: 'color', arrangement: 'freeform',
      line: {color: ok.map(function (t) { return t.metric; }), colorscale: 'Viridis', showscale: true, shape: 'hspline'}}],
      {margin: {l: 60, r: 140, t: 40, b: 30}, height: 380});
  }

  function renderPareto(p) {
    var sec = $('pareto');
    if (!p || !p.objectives || p.objectives.length < 2) { sec.hidden = true; return; }
    sec.hidden = false;
    var xi = Number($('pareto-x').value || 0), yi = Number($('pareto-y').value || 1);
    var onFront = {};
    p.front.forEach(function (id) { onFront[id] = true; });
    var front = p.points.filter(function (q) { return onFront[q.id]; }).sort(function (a, b) { return a.values[xi] - b.values[xi]; });
    var rest = p.points.filter(function (q) { return !onFront[q.id]; });
    function trace(points, name, mode) {
      return {x: points.map(function (q) { return q.values[xi]; }), y: points.map(function (q) { return q.values[yi]; }),
              text: points.map(function (q) { return 'trial ' + q.id; }), mode: mode, type: 'scatter', name: name};
    }
    plot('plot-pareto', [trace(rest, 'dominated', 'markers'), trace(front, 'Pareto front', 'lines+markers')], {
      xaxis: {title: {text: plotText(p.objectives[xi][0] + ' (' + p.objectives[xi][1] + ')')}},
      yaxis: {title: {text: plotText(p.objectives[yi][0] + ' (' + p.objectives[yi][1] + ')')}}});
  }

  function renderEpochs(e) {
    var sec = $('oneshot');
    if (!e || !e.epochs || !e.epochs.length) { sec.hidden = true; return; }
    sec.hidden = false;
    var xs = e.epochs.map(function (r) { return r.epoch; });
    var keys = Object.keys(e.epochs[e.epochs.length - 1]).filter(function (k) {
      return (/_loss$/.test(k) || k === 'val_metric') && typeof e.epochs[e.epochs.length - 1][k] === 'number';
    });
    renderEpochTable(e.epochs, keys);
    plot('plot-epochs', keys.map(function (k) {
      return {x: xs, y: e.epochs.map(function (r) { return r[k]; }), mode: 'lines+markers', type: 'scatter', name: plotText(k)};
    }), {xaxis: {title: {text: 'epoch'}}});
    var d = $('dist-decision').value;
    var candidates = [];
    e.epochs.forEach(function (r) { Object.keys((r.distribution || {})[d] || {}).forEach(function (v) { if (candidates.indexOf(v) < 0) { candidates.push(v); } }); });
    plot('plot-distribution', candidates.map(function (v) {
      return {x: xs, y: e.epochs.map(function (r) { return ((r.distribution || {})[d] || {})[v] || 0; }), type: 'scatter',
              mode: 'lines', stackgroup: 'one', name: plotText(v)};
    }), {xaxis: {title: {text: 'epoch'}}, yaxis: {title: {text: 'probability of ' + plotText(d)}, range: [0, 1]}});
    renderCell(e.cells || []);
  }

  // A one-shot search's epochs as rows: what its single derived "trial" cannot show
  function renderEpochTable(epochs, keys) {
    var table = $('epochs-table');
    if (!table) { return; }
    var cols = ['epoch', 'seconds'].concat(keys);
    table.textContent = '';
    var head = el('tr');
    cols.forEach(function (c) { head.appendChild(el('th', {text: c})); });
    var tbody = el('tbody', {id: 'epochs-body'});
    epochs.forEach(function (r) {
      var tr = el('tr', {'data-epoch': String(r.epoch)});
      cols.forEach(function (c) { tr.appendChild(el('td', {text: c === 'seconds' ? seconds(r.seconds) : fmt(r[c])})); });
      tbody.appendChild(tr);
    });
    table.appendChild(el('thead', {}, head));
    table.appendChild(tbody);
  }

  function renderCell(cells) {
    var box = $('cell-box');
    if (!cells.length) { box.hidden = true; return; }
    box.hidden = false;
    var g = cells[Number($('cell-select').value || 0)] || cells[0];
    var targets = g.nodes.filter(function (n) { return g.edges.some(function (e) { return e.target === n; }); });
    var pos = {};
    g.nodes.forEach(function (n) {
      var isInput = targets.indexOf(n) < 0;
      pos[n] = isInput ? [0, g.nodes.indexOf(n) * 1.0] : [targets.indexOf(n) + 1, (targets.indexOf(n) % 2) * 0.8 + 0.4];
    });
    var notes = [];
    g.edges.forEach(function (e) {
      var a = pos[e.source], b = pos[e.target];
      notes.push({x: b[0], y: b[1], ax: a[0], ay: a[1], xref: 'x', yref: 'y', axref: 'x', ayref: 'y', showarrow: true,
                  arrowhead: 2, arrowsize: 1.2, standoff: 14, startstandoff: 14, text: ''});
      notes.push({x: (a[0] + b[0]) / 2, y: (a[1] + b[1]) / 2, text: plotText(e.op), showarrow: false,
                  font: {size: 11}, bgcolor: 'rgba(255,255,255,0.8)'});
    });
    plot('plot-cell', [{x: g.nodes.map(function (n) { return pos[n][0]; }), y: g.nodes.map(function (n) { return pos[n][1]; }),
      text: g.nodes.map(function (n) { return String(n); }), mode: 'markers+text', type: 'scatter', textposition: 'middle center',
      marker: {size: 28, color: g.nodes.map(function (n) { return targets.indexOf(n) < 0 ? '#9ecae1' : '#fdd0a2'; })},
      hoverinfo: 'text'}],
      {annotations: notes, showlegend: false, xaxis: {visible: false}, yaxis: {visible: false}, title: {text: plotText(g.name)}});
  }

  // Each panel drawn on its own: one that fails says so in its place, and the others still draw.
  function drawPanel(id, draw) {
    var box = $(id);
    if (!box) { return; }  // not on this page (a one-shot search has no multi-trial panels)
    try {
      draw();
    } catch (err) {
      Plotly.purge(box);
      box.textContent = '';
      box.appendChild(el('p', {'class': 'error', text: 'this plot cannot be drawn: ' + err.message}));
    }
  }

  function renderAll() {
    renderOverview();
    fillValues();
    renderTable();
    return whenPlotly(function () {
      drawPanel('plot-metric', renderMetric);
      drawPanel('plot-curves', renderCurves);
      drawPanel('plot-marginal', renderMarginal);
      drawPanel('plot-parcoords', renderParcoords);
    });
  }

  function buildPage() {
    var app = $('app');
    app.textContent = '';
    var s = state.summary;
    if (state.experiments.length > 1) { buildCompare(); }
    section('overview', 'Overview: ' + s.name).appendChild(el('div', {id: 'overview-body'}));
    if (s.kind === 'oneshot') {  // one search: its epochs, not panels that compare trials
      buildOneShot(s);
      buildTable();
      return;
    }
    buildTable();
    section('metric', 'Metric by trial').appendChild(el('div', {id: 'plot-metric', 'class': 'plot'}));
    section('curves', 'Intermediate results').appendChild(el('div', {id: 'plot-curves', 'class': 'plot'}));
    var m = section('marginals', 'Metric by value of a decision');
    m.appendChild(select('marginal-decision', s.decisions.map(function (d) { return [d, d]; }),
                         function () { drawPanel('plot-marginal', renderMarginal); }));
    m.appendChild(el('div', {id: 'plot-marginal', 'class': 'plot'}));
    section('parallel', 'Parallel coordinates over decisions').appendChild(el('div', {id: 'plot-parcoords', 'class': 'plot'}));
    var objectives = (s.objectives || []).map(function (o, i) { return [String(i), o[0]]; });
    var p = section('pareto', 'Pareto front');
    p.appendChild(el('label', {}, 'x ', select('pareto-x', objectives, loadPareto)));
    p.appendChild(el('label', {}, ' y ', select('pareto-y', objectives, loadPareto)));
    if (objectives.length > 1) { $('pareto-y').value = '1'; }
    p.appendChild(el('div', {id: 'plot-pareto', 'class': 'plot'}));
    p.hidden = true;
    buildOneShot(s).hidden = true;
  }

  function buildOneShot(s) {
    var o = section('oneshot', 'One-shot search');
    o.appendChild(el('div', {id: 'plot-epochs', 'class': 'plot'}));
    o.appendChild(el('div', {'class': 'scroll'}, el('table', {id: 'epochs-table'})));
    o.appendChild(el('h3', {text: 'Architecture distribution over epochs'}));
    o.appendChild(select('dist-decision', s.decisions.map(function (d) { return [d, d]; }), loadEpochs));
    o.appendChild(el('div', {id: 'plot-distribution', 'class': 'plot'}));
    o.appendChild(el('div', {id: 'cell-box'}, el('h3', {text: 'Derived cell'}), select('cell-select', [], loadEpochs),
                     el('div', {id: 'plot-cell', 'class': 'plot'})));
    return o;
  }

  function loadPareto() { return Promise.all([source.pareto(state.key), plotlyReady]).then(function (r) { renderPareto(r[0]); }); }
  function loadEpochs() {
    return Promise.all([source.epochs(state.key), plotlyReady]).then(function (r) {
      var e = r[0];
      var cs = $('cell-select');
      if (cs && !cs.options.length) { (e.cells || []).forEach(function (c, i) { cs.appendChild(el('option', {value: String(i), text: c.name})); }); }
      renderEpochs(e);
    });
  }

  // ---- comparing experiments ------------------------------------------------------------------
  function buildCompare() {
    var sec = section('compare', 'Compare runs');
    sec.appendChild(el('table', {id: 'compare-table'}, el('thead', {}, el('tr', {}, el('th', {text: 'run'}), el('th', {text: 'strategy'}),
      el('th', {text: 'trials'}), el('th', {text: 'best'}), el('th', {text: 'state'}))), el('tbody', {id: 'compare-body'})));
    sec.appendChild(el('div', {id: 'plot-compare', 'class': 'plot'}));
    var traces = [];
    var body = $('compare-body');
    state.experiments.reduce(function (chain, x) {
      return chain.then(function () {
        return source.summary(x.key).then(function (s) {
          body.appendChild(el('tr', {}, el('td', {text: x.name}), el('td', {text: s.error ? 'unreadable' : String(s.strategy)}),
            el('td', {text: s.error ? '–' : String(s.total)}), el('td', {text: s.best ? fmt(s.best.metric) : '–'}),
            el('td', {text: s.error ? s.error : s.state})));
          if (s.error) { return null; }
          var got = [];
          return source.trials(x.key, function (all) { got = all; }).then(function () {
            var line = bestSoFar(got.filter(function (t) { return t.status === 'succeeded' && typeof t.metric === 'number'; }), s.direction);
            traces.push({x: line.x, y: line.y, mode: 'lines', type: 'scatter', name: plotText(x.name), line: {shape: 'hv'}});
          });
        });
      });
    }, plotlyReady).then(function () {
      plot('plot-compare', traces, {xaxis: {title: {text: 'trial'}}, yaxis: {title: {text: 'best so far'}}});
    });
  }

  // ---- loading and live refresh ---------------------------------------------------------------
  function load(key) {
    state.key = key;
    state.busy = true;
    Array.prototype.forEach.call(document.querySelectorAll('#experiments button'), function (b) {
      b.classList.toggle('active', b.dataset.key === String(key));
    });
    return source.summary(key).then(function (s) {
      if (s.error) { state.revision = s.revision; renderError(s.error); return null; }
      var fresh = !state.summary || state.summary.key !== s.key || $('overview') === null;
      state.summary = s;
      if (fresh) { buildPage(); }
      var painted = false;
      return source.trials(key, function (all) {
        state.trials = all;
        if (!painted) { renderOverview(); fillValues(); renderTable(); painted = true; body.dataset.painted = String(Math.round(performance.now())); }
      }).then(function () {
        state.revision = s.revision;
        var tasks = [renderAll()];
        if (s.objectives && s.objectives.length > 1) { tasks.push(loadPareto()); }
        if (s.epochs) { tasks.push(loadEpochs()); }
        return Promise.all(tasks).then(function () {
          body.dataset.loaded = String(s.revision);
          body.dataset.loadedMs = String(Math.round(performance.now()));
        });
      });
    }).then(function () {
      state.busy = false;
      if (MODE === 'live') { $('live-state').textContent = 'live · updated ' + new Date().toLocaleTimeString(); }
    }, function (err) {
      state.busy = false;
      $('live-state').textContent = 'cannot reach the dashboard server: ' + err.message;
    });
  }

  function poll() {
    if (state.busy || state.key === null) { return; }
    source.summary(state.key).then(function (s) {
      if (s.revision !== state.revision) { return load(state.key); }
      $('live-state').textContent = 'live · checked ' + new Date().toLocaleTimeString();
    }, function (err) { $('live-state').textContent = 'cannot reach the dashboard server: ' + err.message; });
  }

  source.list().then(function (list) {
    state.experiments = list;
    var nav = $('experiments');
    list.forEach(function (x) {
      var b = el('button', {'data-key': String(x.key), text: x.name});
      b.addEventListener('click', function () { state.summary = null; load(x.key); });
      nav.appendChild(b);
    });
    if (MODE === 'report') { $('live-state').textContent = 'report'; }
    return load(list[0].key);
  }).then(function () {
    if (MODE === 'live' && REFRESH > 0) { setInterval(poll, REFRESH); }
  });
})();

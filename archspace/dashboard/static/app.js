// archspace dashboard: fetches the JSON payloads of archspace.dashboard.data, builds the page (overview,
// trials table, panels) and has plots.js (loaded first) draw them with Plotly. Live mode fetches
// them from the server (and polls for changes); report mode reads them from the page's inert JSON
// element. Every text that comes from an experiment goes into the page through textContent (never
// innerHTML), and into Plotly through plotText(), which escapes its markup.
(function () {
  'use strict';
  var body = document.body;
  var MODE = body.dataset.mode;
  var params = new URLSearchParams(location.search);
  var REFRESH = Number(params.get('refresh') || body.dataset.refresh || 2000);
  var PAGE_ROWS = 200;
  var FIRST_PAGE = 200;  // one table page: what the first paint needs
  var FETCH_PAGE = 2000;  // the server's largest page
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

  // the helpers and the plots, from plots.js (loaded first)
  var P = window.archspacePlots;
  var el = P.el, $ = P.$, plotText = P.plotText, show = P.show, fmt = P.fmt, seconds = P.seconds, plot = P.plot;

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

  function oneshot() { return state.summary && state.summary.kind === 'oneshot'; }

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

  function drawMarginal() { P.drawPanel('plot-marginal', function () { P.renderMarginal(state.trials); }); }

  function renderAll() {
    renderOverview();
    fillValues();
    renderTable();
    return whenPlotly(function () {
      P.drawPanel('plot-metric', function () { P.renderMetric(state.trials, state.summary); });
      P.drawPanel('plot-curves', function () { P.renderCurves(state.trials); });
      drawMarginal();
      P.drawPanel('plot-parcoords', function () { P.renderParcoords(state.trials, state.summary); });
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
                         drawMarginal));
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

  function loadPareto() { return Promise.all([source.pareto(state.key), plotlyReady]).then(function (r) { P.renderPareto(r[0]); }); }
  function loadEpochs() {
    return Promise.all([source.epochs(state.key), plotlyReady]).then(function (r) {
      var e = r[0];
      var cs = $('cell-select');
      if (cs && !cs.options.length) { (e.cells || []).forEach(function (c, i) { cs.appendChild(el('option', {value: String(i), text: c.name})); }); }
      P.renderEpochs(e);
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
            var line = P.bestSoFar(got.filter(function (t) { return t.status === 'succeeded' && typeof t.metric === 'number'; }), s.direction);
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
      $('live-state').textContent = (MODE === 'report' ? 'cannot show this report: ' : 'cannot reach the dashboard server: ') + err.message;
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

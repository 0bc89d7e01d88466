// archspace dashboard: the plots, drawn with Plotly from the JSON payloads of
// archspace.dashboard.data. Each view is a function of the data it is given (trials, a summary,
// a payload) and of the controls on the page; app.js, loaded after this file, fetches the data,
// builds the page and calls these. Every text from an experiment goes into Plotly through
// plotText(), which escapes its markup, and into the page through textContent.
(function () {
  'use strict';
  var MAX_CURVES = 300;
  var LEGEND_CURVES = 12;  // up to this many curves get a legend; any curve names its trial on hover
  var PRUNED = 'pruned (last value)';

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

  function succeeded(trials) {
    return trials.filter(function (t) { return t.status === 'succeeded' && typeof t.metric === 'number'; });
  }
  // trials a scheduler stopped early: their metric is the last value they reported, drawn apart
  function pruned(trials) {
    return trials.filter(function (t) { return t.status === 'pruned' && typeof t.metric === 'number'; });
  }
  function trialName(t) { return 'trial ' + t.id + ' (' + t.status + ')'; }

  function bestSoFar(trials, direction) {
    var best = null, xs = [], ys = [];
    trials.forEach(function (t) {
      if (best === null || (direction === 'minimize' ? t.metric < best : t.metric > best)) { best = t.metric; }
      xs.push(t.id); ys.push(best);
    });
    return {x: xs, y: ys};
  }

  function renderMetric(trials, summary) {
    var ok = succeeded(trials);
    var pruned = trials.filter(function (t) { return t.status === 'pruned' && typeof t.metric === 'number'; });
    var line = bestSoFar(ok, summary.direction);
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
  function renderCurves(trials) {
    var withCurves = trials.filter(function (t) { return t.intermediates && t.intermediates.length; }).slice(-MAX_CURVES);
    plot('plot-curves', withCurves.map(function (t) {
      var stopped = t.status === 'pruned';
      return {x: t.intermediates.map(function (p) { return p[0]; }), y: t.intermediates.map(function (p) { return p[1]; }),
              mode: 'lines+markers', type: 'scatter', name: trialName(t), opacity: 0.7,
              marker: {size: 6, symbol: stopped ? 'x' : 'circle'}, line: {dash: stopped ? 'dot' : 'solid'},
              hovertemplate: plotText(trialName(t)) + '<br>step %{x}<br>value %{y}<extra></extra>'};
    }), {showlegend: withCurves.length <= LEGEND_CURVES, xaxis: {title: {text: 'step'}},
         yaxis: {title: {text: 'reported value'}}});
  }

  function renderMarginal(trials) {
    var d = $('marginal-decision').value;
    if (!d) { return; }
    var has = function (t) { return d in t.sample; };
    var ok = succeeded(trials).filter(has), cut = pruned(trials).filter(has);
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
  function renderParcoords(trials, summary) {
    var ok = succeeded(trials).concat(pruned(trials)).sort(function (a, b) { return a.id - b.id; });
    if (!ok.length) { Plotly.purge($('plot-parcoords')); return; }
    var sorted = ok.map(function (t) { return t.metric; }).sort(function (a, b) { return a - b; });
    var cuts = [0.25, 0.5, 0.75].map(function (q) { return sorted[Math.floor(q * (sorted.length - 1))]; });
    var names = ['Q1 (low)', 'Q2', 'Q3', 'Q4 (high)'];
    var quartiles = ok.map(function (t) { return names[cuts.filter(function (c) { return t.metric > c; }).length]; });
    var dims = summary.decisions.map(function (d) {
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

  window.archspacePlots = {
    el: el, $: $, plotText: plotText, show: show, fmt: fmt, seconds: seconds, plot: plot, bestSoFar: bestSoFar,
    drawPanel: drawPanel, renderMetric: renderMetric, renderCurves: renderCurves, renderMarginal: renderMarginal,
    renderParcoords: renderParcoords, renderPareto: renderPareto, renderEpochs: renderEpochs
  };
})();

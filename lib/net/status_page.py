"""The status page served at `/`: a constant, so a frozen image keeps it in flash.

Inline JS polls /api/status every 3 s and draws grid power, PV power and the
export limit on a canvas; no external resources. The server sends it as
slices of a memoryview (no copy), so it never needs a block of its size.
"""

PAGE = b"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>export-manager</title>
<style>
body{font-family:sans-serif;margin:1em;max-width:60em}table{border-collapse:collapse}
td,th{padding:.2em .6em;text-align:right;border-bottom:1px solid #ddd}canvas{width:100%;height:260px}
.g{color:#c0392b}.p{color:#27ae60}.l{color:#2c3e50}#err{color:#c0392b}
</style></head><body>
<h1>export-manager</h1>
<p>Mode <b id="mode">?</b> &middot; grid <b class="g" id="grid">?</b> W &middot; PV <b class="p" id="pv">?</b> W
&middot; export limit <b class="l" id="limit">?</b> W <span id="err"></span></p>
<canvas id="c" width="900" height="260"></canvas>
<p><span class="g">&#9632; grid (+ import / &minus; export)</span> <span class="p">&#9632; PV</span>
<span class="l">&#9632; &minus;export limit</span></p>
<table id="inv"></table>
<p id="meter"></p><p id="energy"></p>
<details><summary>Change the export limit</summary>
<p>Needs <code>http_writes</code> on and the <code>http_token</code> set over the REPL.</p>
<input id="tok" type="password" placeholder="token"> <input id="lim" type="number" min="0" placeholder="W">
<button onclick="setLimit()">Set</button> <span id="res"></span></details>
<script>
var N=150,H=[],c=document.getElementById("c"),x=c.getContext("2d");
function $(i){return document.getElementById(i)}
function draw(){var w=c.width,h=c.height,lo=0,hi=100;x.clearRect(0,0,w,h);
H.forEach(function(s){[s.g,s.p,s.l].forEach(function(v){if(v!==null){lo=Math.min(lo,v);hi=Math.max(hi,v)}})});
var y=function(v){return h-4-(v-lo)*(h-8)/(hi-lo)};x.strokeStyle="#999";x.beginPath();x.moveTo(0,y(0));
x.lineTo(w,y(0));x.stroke();x.fillStyle="#666";x.fillText(hi+" W",2,12);x.fillText(lo+" W",2,h-6);
[["g","#c0392b"],["p","#27ae60"],["l","#2c3e50"]].forEach(function(k){x.strokeStyle=k[1];x.beginPath();var m=0;
H.forEach(function(s,i){var v=s[k[0]];if(v===null){m=0;return}var px=i*w/(N-1);if(m)x.lineTo(px,y(v));
else x.moveTo(px,y(v));m=1});x.stroke()})}
function row(a){return"<tr>"+a.map(function(v){return"<td>"+(v===null?"-":v)+"</td>"}).join("")+"</tr>"}
function show(s){$("mode").textContent=s.mode;$("grid").textContent=s.grid.power_w;$("pv").textContent=s.pv_power_w;
$("limit").textContent=s.export_limit_w===null?"none":s.export_limit_w;
$("err").textContent=s.grid.valid?"":"(meter data invalid)";
H.push({g:s.grid.valid?s.grid.power_w:null,p:s.pv_power_w,l:s.export_limit_w===null?null:-s.export_limit_w});
if(H.length>N)H.shift();draw();
$("inv").innerHTML="<tr><th>#</th><th>phase</th><th>rated W</th><th>limit W</th><th>output W</th><th>command</th></tr>"+
s.inverters.map(function(i){return row([i.index,"L"+i.phase,i.rated_w,i.limit_w,i.output_w,i.command])}).join("");
$("meter").textContent=s.meter?"meter: "+JSON.stringify(s.meter):"";
$("energy").textContent="energy (Wh): "+JSON.stringify(s.energy)}
function tick(){fetch("/api/status").then(function(r){return r.json()}).then(show).catch(function(){
$("err").textContent="(no answer)"})}
function setLimit(){fetch("/api/limit",{method:"POST",headers:{"Authorization":"Bearer "+$("tok").value,
"Content-Type":"application/json"},body:JSON.stringify({export_limit_w:parseInt($("lim").value,10)})})
.then(function(r){return r.json()}).then(function(j){$("res").textContent=j.error||("set to "+j.export_limit_w+" W")})}
tick();setInterval(tick,3000);
</script></body></html>
"""

"""The status page served at `/`: constant pieces, so a frozen image keeps them in flash.

What it shows, from /api/status every 3 s: the mode and why (fail-safe
reason, lockout with its reason, time left and how to clear it,
commissioning with its time left), a banner while export is above the
limit, grid, PV, load and limit as labelled values, the supervisor's
counters, a chart of the last 7.5 minutes with a time axis (ticks spaced
by the chart's width, so the labels never overlap at phone width), a row
per inverter (limit, output, command, last contact, missed polls), the
meter's counters and readings, and the energy counters. No external
resources: it works on a plant network without internet. Narrower than
600 px, the inverter table turns into one labelled block per inverter.

PAGE is a tuple of bytes pieces of at most 512 bytes, cut at line ends: the
server sends them one after the other through the connection's buffer, so
no block of the page's size is ever needed. In a frozen image they stay in
flash; with .mpy files in RAM each piece is its own small object (8.9 kB in
all), which a fragmented heap still finds room for (a piece of 1.6 kB did
not: the server's import failed with MemoryError in `make ram`'s full/mpy
run).
"""

PAGE = (
    b"""\
<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>export-manager</title>
<style>
body{font-family:sans-serif;margin:0 auto;padding:.6em;max-width:62em;color:#222;line-height:1.35}
h1{font-size:1.3em;margin:.2em 0}h2{font-size:1.05em;margin:1.1em 0 .4em}a{color:#1f5f99}
.b{display:inline-block;padding:.1em .55em;border-radius:.3em;color:#fff;background:#777;font-weight:bold;
""",
    b"""\
font-size:.95em}.regulating,.ok{background:#27ae60}.failsafe,.excursion{background:#d35400}
.lockout{background:#c0392b}.commissioning{background:#2471a3}
#why{margin:.4em 0}#alarm{display:none;background:#c0392b;color:#fff;padding:.5em .7em;border-radius:.3em;
font-weight:bold;margin:.5em 0}#err{color:#c0392b}
dl{display:grid;grid-template-columns:repeat(auto-fill,minmax(8.5em,1fr));gap:.4em;margin:0}
dl div{background:#f3f4f6;border-radius:.3em;padding:.3em .5em}dt{font-size:.8em;color:#555}
""",
    b"""\
dd{margin:0;font-weight:bold;font-variant-numeric:tabular-nums}
.g{color:#c0392b}.p{color:#1e8449}.l{color:#2c3e50}.w{color:#c0392b}
canvas{width:100%;height:240px;display:block}#legend span{margin-right:1em;white-space:nowrap}
table{border-collapse:collapse;width:100%}td,th{padding:.25em .5em;text-align:right;border-bottom:1px solid #ddd}
th{font-size:.85em;color:#555}#ph{margin-top:.4em;max-width:30em}
""",
    b"""\
@media(max-width:600px){#inv thead{display:none}#inv tr{display:block;border:1px solid #ddd;border-radius:.3em;
margin-bottom:.5em}#inv td{display:flex;justify-content:space-between;border:0;padding:.15em .5em}
#inv td:before{content:attr(data-l);color:#555}}
</style></head><body>
<h1>export-manager</h1>
<div><span class="b" id="mode">?</span> <span class="b" id="sup" hidden></span> <span id="err"></span></div>
<p id="why"></p>
<div id="alarm"></div>
<dl id="now"></dl>
""",
    b"""\
<h2>Grid power, PV and export limit</h2>
<canvas id="c"></canvas>
<p id="legend"><span class="g">&#9644; grid (+ import, &minus; export)</span><span class="p">&#9644; PV</span>
<span class="l">&#9644; &minus;export limit</span></p>
<h2>Supervisor</h2><dl id="sv"></dl>
<h2>Inverters</h2>
<table id="inv"><thead><tr><th>#</th><th>phase</th><th>rated</th><th>limit</th><th>output</th><th>command</th>
<th>last contact</th><th>radio</th></tr></thead><tbody></tbody></table>
<h2>Grid meter</h2><dl id="meter"></dl>
""",
    b"""\
<table id="ph"><thead><tr><th>phase</th><th>voltage</th><th>current</th><th>power</th></tr></thead><tbody></tbody>
</table>
<h2>Energy</h2><dl id="energy"></dl>
<details><summary>Change the export limit</summary>
<p>Needs <code>http_writes</code> on and the <code>http_token</code> set over the REPL.
All settings: <a href="/settings">settings page</a>.</p>
<input id="tok" type="password" placeholder="token"> <input id="lim" type="number" min="0" placeholder="W">
""",
    b"""\
<button onclick="setLimit()">Set</button> <span id="res"></span></details>
<script>
var N=150,P=3000,H=[],c=document.getElementById("c"),x=c.getContext("2d");
function $(i){return document.getElementById(i)}
function E(v){return String(v).replace(/[&<>"]/g,function(k){return"&#"+k.charCodeAt(0)+";"})}
function W(v){return v===null||v===undefined?"&ndash;":v+" W"}
function D(s){if(s>=3600)return Math.floor(s/3600)+" h "+Math.floor(s%3600/60)+" min";
""",
    b"""\
if(s>=60)return Math.floor(s/60)+" min "+s%60+" s";return s+" s"}
function F(v,d,u,n){return v===null||v===undefined?"&ndash;":(v/d).toFixed(n)+" "+u}
function kv(a){return a.map(function(p){return"<div><dt>"+p[0]+"</dt><dd>"+p[1]+"</dd></div>"}).join("")}
function head(s){var v=s.supervisor,m=$("mode"),b=$("sup"),w;m.textContent=s.mode;m.className="b "+s.mode;
if(s.mode=="failsafe")w="Fail-safe limits: "+E(s.reason||"reason not known")+".";
""",
    b"""\
else if(s.mode=="starting")w="Waiting for the first meter reading; fail-safe limits meanwhile.";
else if(s.mode=="regulating")w="Keeping export within the limit.";else w="";
b.hidden=!v||v.state=="ok";if(v){b.textContent=v.state;b.className="b "+v.state;
if(v.state=="lockout")w+=" Lockout after a trip ("+E(v.lockout_reason)+"): "+D(v.lockout_s_left)+
" left. To clear it now, run <code>"+E(v.clear)+"</code> at the REPL.";
if(v.commission_s_left>0)w+=" Commissioning: "+D(v.commission_s_left)+
""",
    b"""\
" left; the supervisor records excursions but does not trip."}
$("why").innerHTML=w;var a=$("alarm"),e=-s.grid.power_w,l=s.export_limit_w;a.style.display=s.alarm?"block":"none";
a.textContent=l!==null&&e>l?"Export "+e+" W is above the limit of "+l+" W":"Export is above the limit on a phase"}
</script>
<script>
function nice(r,n){var s=Math.pow(10,Math.floor(Math.log10(r/n))),k=[1,2,5,10];for(var i=0;i<4;i++)
if(r/(s*k[i])<=n)return s*k[i];return s*10}
""",
    b"""\
function draw(){var r=window.devicePixelRatio||1,w=c.clientWidth,h=c.clientHeight;c.width=w*r;c.height=h*r;
x.setTransform(r,0,0,r,0,0);x.clearRect(0,0,w,h);x.font="12px sans-serif";var lo=0,hi=100,t=Date.now(),S=N*P;
H.forEach(function(s){[s.g,s.p,s.l].forEach(function(v){if(v!==null){lo=Math.min(lo,v);hi=Math.max(hi,v)}})});
var st=nice(hi-lo,Math.max(2,Math.floor(h/45)));lo=Math.floor(lo/st)*st;hi=Math.ceil(hi/st)*st;
""",
    b"""\
var L=Math.max(x.measureText(lo+" W").width,x.measureText(hi+" W").width)+8,B=18,R=w-6;
function y(v){return 9+(hi-v)*(h-B-14)/(hi-lo)}function X(q){return R-(t-q)*(R-L)/S}
x.textAlign="right";x.textBaseline="middle";for(var v=lo;v<=hi;v+=st){x.strokeStyle=v?"#e3e3e3":"#888";
x.beginPath();x.moveTo(L,y(v));x.lineTo(R,y(v));x.stroke();x.fillStyle="#555";x.fillText(v+" W",L-4,y(v))}
var sp=[60,120,300,450],k=0;while(k<3&&(R-L)*sp[k]*1000/S<x.measureText("-5 min").width+24)k++;
""",
    b"""\
x.textAlign="center";x.textBaseline="top";for(var q=0;q<=S/1000;q+=sp[k]){var px=R-q*1000*(R-L)/S;
x.strokeStyle="#e3e3e3";x.beginPath();x.moveTo(px,9);x.lineTo(px,h-B-5);x.stroke();
x.fillText(q?"-"+q/60+" min":"now",Math.min(px,R-14),h-B+2)}
[["g","#c0392b"],["p","#1e8449"],["l","#2c3e50"]].forEach(function(k){x.strokeStyle=k[1];x.lineWidth=2;
x.beginPath();var m=0;H.forEach(function(s){var v=s[k[0]];if(v===null){m=0;return}var px=X(s.t);
""",
    b"""\
if(m)x.lineTo(px,y(v));else x.moveTo(px,y(v));m=1});x.stroke();x.lineWidth=1})}
</script>
<script>
var C=["inverter","phase","rated","limit","output","command","last contact","radio"];
function radio(i){var q=i.missed===null||i.missed===undefined?"":i.missed?"<b class=w>"+i.missed+
" missed in a row</b>, ":"ok, ";return q+i.answers+(i.answers==1?" answer":" answers")}
function row(i){return"<tr>"+[i.index,"L"+i.phase,W(i.rated_w),W(i.limit_w),W(i.output_w),E(i.command),
""",
    b"""\
i.last_contact_s===null?"never":D(i.last_contact_s)+" ago",radio(i)].map(function(v,k){return"<td data-l='"+C[k]+
"'><span>"+v+"</span></td>"}).join("")+"</tr>"}
</script>
<script>
function show(s){var g=s.grid,v=s.supervisor,m=s.meter,n=s.energy,p=[0,1,2].slice(0,g.voltage_dv.length);
head(s);$("err").textContent=g.valid?"":"meter data invalid";
$("now").innerHTML=kv([["<span class=g>grid</span>",W(g.valid?g.power_w:null)],["<span class=p>PV</span>",
""",
    b"""\
W(s.pv_power_w)],["load",W(s.load_power_w)],["export limit",s.export_limit_w===null?"none":W(s.export_limit_w)],
["inverter limits",W(s.limit_total_w)],["meter sample",g.age_ms===null?"none":D(Math.floor(g.age_ms/1000))+" ago"]]);
$("sv").innerHTML=v?kv([["state",v.state],["excursions",v.excursions],["stage-2 events",v.stage2],
["trips",v.trips],["lockout left",v.lockout_s_left?D(v.lockout_s_left):"none"],["commissioning",
""",
    b"""\
v.commission_s_left?D(v.commission_s_left):"off"]]):kv([["supervisor","off (meter on the load side)"]]);
$("inv").tBodies[0].innerHTML=s.inverters.map(row).join("");
$("meter").innerHTML=kv((m?[["good reads",m.ok],["timeouts",m.timeout],["CRC errors",m.crc],["exceptions",
m.exception],["implausible",m.invalid]]:[]).concat([["frequency",F(g.frequency_chz,100,"Hz",2)]]));
$("ph").tBodies[0].innerHTML=p.map(function(i){return"<tr><td>L"+(i+1)+"</td><td>"+F(g.voltage_dv[i],10,"V",1)+
""",
    b"""\
"</td><td>"+F(g.current_ma[i],1000,"A",2)+"</td><td>"+W(g.phase_power_w[i])+"</td></tr>"}).join("");
$("energy").innerHTML=kv([["import",F(n.import_wh,1000,"kWh",1)],["export",F(n.export_wh,1000,"kWh",1)]].concat(
"pv_wh"in n?[["PV",F(n.pv_wh,1000,"kWh",1)]]:[]));
H.push({t:Date.now(),g:g.valid?g.power_w:null,p:s.pv_power_w,l:s.export_limit_w===null?null:-s.export_limit_w});
if(H.length>N)H.shift();draw()}
</script>
<script>
""",
    b"""\
function tick(){fetch("/api/status").then(function(r){return r.json()}).then(show,function(){
$("err").textContent="no answer from the gateway";H.push({t:Date.now(),g:null,p:null,l:null});draw()})}
function setLimit(){fetch("/api/limit",{method:"POST",headers:{"Authorization":"Bearer "+$("tok").value,
"Content-Type":"application/json"},body:JSON.stringify({export_limit_w:parseInt($("lim").value,10)})})
""",
    b"""\
.then(function(r){return r.json()}).then(function(j){$("res").textContent=j.error||("set to "+j.export_limit_w+" W")})}
window.onresize=draw;tick();setInterval(tick,P);
</script></body></html>
""",
)

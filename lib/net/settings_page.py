"""The settings page served at `/settings`: constant pieces, imported only while it is sent.

The page holds no data: given the token, its script loads every key from
GET /api/settings (key, kind, range, unit, default, meaning, value) and
offers one input per key in cfg.show()'s order, chosen by the key's kind: a
number with its range, a list of choices, yes/no, a text field (a password
field for secrets, which are never sent to the page), and the inverter list
as JSON. "Set" posts one key ({"key", "value"}); the gateway puts it through
cfg.set, and cfg's message is shown under the key when it refuses. "Save"
keeps the settings across restarts (cfg.save), "Start" begins commissioning
for the given minutes. Nothing is stored in the page but the token, in the
tab's sessionStorage. The address /settings#token=<token> gives the token
at once (a fragment never leaves the browser; the page takes it out of the
address bar).

PAGE is a tuple of bytes pieces of at most 512 bytes, sent one after the
other (see status_page.py); this module is imported only while the page is
sent.
"""

PAGE = (
    b"""\
<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>export-manager settings</title>
<style>
body{font-family:sans-serif;margin:0 auto;padding:.6em;max-width:62em;color:#222;line-height:1.35}
h1{font-size:1.3em;margin:.2em 0}a{color:#1f5f99}.box{background:#f3f4f6;border-radius:.3em;padding:.5em;
margin:.6em 0}.r{border-bottom:1px solid #ddd;padding:.45em 0;display:flex;flex-wrap:wrap;gap:.3em 1em}
""",
    b"""\
.r label{flex:1 1 20em}.r label small{display:block;color:#555}.r div{flex:0 1 auto}
input,select,textarea{font:inherit;max-width:100%}textarea{width:100%;min-height:5em;font-family:monospace}
.box p{margin:0 0 .5em}.e{color:#c0392b}.k{color:#1e8449}code{font-size:.95em}
</style></head><body>
<h1>export-manager settings</h1>
<p><a href="/">&larr; status page</a></p>
<div class="box"><p>Changes need <code>http_writes</code> on and the <code>http_token</code>, both set at the
""",
    b"""\
REPL. Each change is checked as <code>cfg.set</code> checks it; <b>Save</b> keeps the settings across
restarts.</p>
<input id="tok" type="password" placeholder="token"> <button onclick="load()">Load settings</button>
<span id="msg"></span></div>
<div class="box">Commissioning: the supervisor records excursions but does not trip.
<input id="cm" type="number" min="1" value="30" style="width:5em"> min <button onclick="commission()">Start</button>
<span id="cres"></span></div>
""",
    b"""\
<p><button onclick="save()">Save</button> <span id="sres"></span></p>
<div id="rows"></div>
<script>
var R=[],T=sessionStorage.getItem("tok")||"";if(location.hash.indexOf("#token=")==0){
T=decodeURIComponent(location.hash.slice(7));history.replaceState(null,"",location.pathname)}
function $(i){return document.getElementById(i)}
function E(v){return String(v).replace(/[&<>"']/g,function(k){return"&#"+k.charCodeAt(0)+";"})}
""",
    b"""\
function call(m,u,b){return fetch(u,{method:m,headers:{"Authorization":"Bearer "+$("tok").value,
"Content-Type":"application/json"},body:b===undefined?undefined:JSON.stringify(b)}).then(function(r){
return r.json()})}
function say(i,j,ok){var e=$(i);e.className=j.error?"e":"k";e.textContent=j.error||ok}
function range(r){var k=r[1];if(k=="int")return r[2]+".."+r[3]+(r[4]?" "+r[4]:"");if(k=="choice")
return r[2].join(", ");if(k=="text")return r[2]+".."+r[3]+" characters";if(k=="inverters")
""",
    b"""\
return"a JSON list of at most "+r[3]+" inverters";return"yes or no"}
function field(r,i){var k=r[1],v=r[7],id="v"+i;if(k=="choice")return"<select id="+id+">"+r[2].map(function(c,n){
return"<option value="+n+(c===v?" selected":"")+">"+E(c)+"</option>"}).join("")+"</select>";
if(k=="bool")return"<select id="+id+"><option value=1"+(v?" selected":"")+">yes</option><option value=0"+
(v?"":" selected")+">no</option></select>";if(k=="inverters")return"<textarea id="+id+">"+
""",
    b"""\
E(JSON.stringify(v))+"</textarea>";if(r[8])return"<input id="+id+" type=password placeholder='"+
(v?"set (hidden)":"not set")+"'>";if(k=="int")return"<input id="+id+" type=number min="+r[2]+" max="+r[3]+
" value="+v+" style='width:8em'>";return"<input id="+id+" value='"+E(v)+"' maxlength="+r[3]+">"}
</script>
<script>
function value(r,i){var k=r[1],v=$("v"+i).value;if(k=="choice")return r[2][v];if(k=="bool")return v=="1";
""",
    b"""\
if(k=="inverters")return JSON.parse(v);if(k=="int")return /^-?[0-9]+$/.test(v)?parseInt(v,10):v;return v}
function put(i){var r=R[i],v;if(r[8]&&!$("v"+i).value){say("m"+i,{error:"type the new value"+
" (a secret is cleared at the REPL)"});return}
try{v=value(r,i)}catch(e){say("m"+i,{error:"not JSON: "+e.message});return}
call("POST","/api/settings",{key:r[0],value:v}).then(function(j){say("m"+i,j,"set"+(j.note?": "+j.note:
"; Save keeps it"))})}
""",
    b"""\
function load(){sessionStorage.setItem("tok",$("tok").value);call("GET","/api/settings").then(function(j){
if(j.error){say("msg",j);return}R=j;$("msg").textContent="";$("rows").innerHTML=j.map(function(r,i){
return"<div class=r><label for=v"+i+"><b>"+r[0]+"</b><small>"+E(r[6])+" &middot; "+E(range(r))+
"; default "+E(r[1]=="bool"?r[5]?"yes":"no":JSON.stringify(r[5]))+"</small></label><div>"+field(r,i)+(r[4]?" "+r[4]:"")+
""",
    b"""\
" <button onclick='put("+i+")'>Set</button> <span id=m"+i+"></span></div></div>"}).join("")})}
function save(){call("POST","/api/settings",{save:true}).then(function(j){say("sres",j,"saved")})}
function commission(){call("POST","/api/commission",{minutes:parseInt($("cm").value,10)}).then(function(j){
say("cres",j,"commissioning for "+j.commission_min+" min")})}
$("tok").value=T;if(T)load();
</script></body></html>
""",
)

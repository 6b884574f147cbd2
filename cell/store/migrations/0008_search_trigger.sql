-- Message search, second step: the search column is kept by a trigger, not generated, and
-- names its workspace. Measured (bench/search.py, docs/benchmarks.md): a single-row INSERT
-- paid about 0.6 ms more with the generated column than with this trigger, because a STRICT
-- SQL function is not inlined and a generated expression is set up again for every
-- statement; a PL/pgSQL trigger keeps its plans for the session.
--
-- The vector also holds the workspace id as a lexeme of its own (upper case: no query word,
-- which is folded to lower case, can ever be it). Searches AND it to their words, so the GIN
-- index returns only the searching workspace's rows instead of every workspace's.
--
-- Moves: logical replication's apply workers run with session_replication_role = replica, so
-- the trigger does not fire on the target; the column is an ordinary one there and arrives
-- with the value the source computed, equal by construction.

CREATE OR REPLACE FUNCTION cellchat_search_text(body text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN body ~ '[^\x01-\x7f]' THEN
    regexp_replace(
        regexp_replace(
            regexp_replace(
                translate(lower(normalize(body, NFKC)),
                          'ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞĀĂĄĆĈĊČĎĐĒĔĖĘĚĜĞĠĢĤĦĨĪĬĮĴĶĹĻĽŁŃŅŇŊŌŎŐŒŔŖŘŚŜŞŠŢŤŦŨŪŬŮŰŲŴŶŸŹŻŽƁƂƄƆƇƉƊƋƎƏƐƑƓƔƖƗƘƜƝƟƠƢƤƦƧƩƬƮƯƱƲƳƵƷƸƼǍǏǑǓǕǗǙǛǞǠǢǤǦǨǪǬǮǴǶǷǸǺǼǾȀȂȄȆȈȊȌȎȐȒȔȖȘȚȜȞȠȢȤȦȨȪȬȮȰȲȺȻȽȾɁɃɄɅɆɈɊɌɎͰͲͶͿΆΈΉΊΌΎΏΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩΪΫϏϘϚϜϞϠϢϤϦϨϪϬϮϷϺϽϾϿЀЁЂЃЄЅІЇЈЉЊЋЌЍЎЏАБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯѠѢѤѦѨѪѬѮѰѲѴѶѸѺѼѾҀҊҌҎҐҒҔҖҘҚҜҞҠҢҤҦҨҪҬҮҰҲҴҶҸҺҼҾӀӁӃӅӇӉӋӍӐӒӔӖӘӚӜӞӠӢӤӦӨӪӬӮӰӲӴӶӸӺӼӾԀԂԄԆԈԊԌԎԐԒԔԖԘԚԜԞԠԢԤԦԨԪԬԮႠႡႢႣႤႥႦႧႨႩႪႫႬႭႮႯႰႱႲႳႴႵႶႷႸႹႺႻႼႽႾႿჀჁჂჃჄჅჇჍḀḂḄḆḈḊḌḎḐḒḔḖḘḚḜḞḠḢḤḦḨḪḬḮḰḲḴḶḸḺḼḾṀṂṄṆṈṊṌṎṐṒṔṖṘṚṜṞṠṢṤṦṨṪṬṮṰṲṴṶṸṺṼṾẀẂẄẆẈẊẌẎẐẒẔẞẠẢẤẦẨẪẬẮẰẲẴẶẸẺẼẾỀỂỄỆỈỊỌỎỐỒỔỖỘỚỜỞỠỢỤỦỨỪỬỮỰỲỴỶỸỺỼỾ',
                          'àáâãäåæçèéêëìíîïðñòóôõöøùúûüýþāăąćĉċčďđēĕėęěĝğġģĥħĩīĭįĵķĺļľłńņňŋōŏőœŕŗřśŝşšţťŧũūŭůűųŵŷÿźżžɓƃƅɔƈɖɗƌǝəɛƒɠɣɩɨƙɯɲɵơƣƥʀƨʃƭʈưʊʋƴƶʒƹƽǎǐǒǔǖǘǚǜǟǡǣǥǧǩǫǭǯǵƕƿǹǻǽǿȁȃȅȇȉȋȍȏȑȓȕȗșțȝȟƞȣȥȧȩȫȭȯȱȳⱥȼƚⱦɂƀʉʌɇɉɋɍɏͱͳͷϳάέήίόύώαβγδεζηθικλμνξοπρστυφχψωϊϋϗϙϛϝϟϡϣϥϧϩϫϭϯϸϻͻͼͽѐёђѓєѕіїјљњћќѝўџабвгдежзийклмнопрстуфхцчшщъыьэюяѡѣѥѧѩѫѭѯѱѳѵѷѹѻѽѿҁҋҍҏґғҕҗҙқҝҟҡңҥҧҩҫҭүұҳҵҷҹһҽҿӏӂӄӆӈӊӌӎӑӓӕӗәӛӝӟӡӣӥӧөӫӭӯӱӳӵӷӹӻӽӿԁԃԅԇԉԋԍԏԑԓԕԗԙԛԝԟԡԣԥԧԩԫԭԯⴀⴁⴂⴃⴄⴅⴆⴇⴈⴉⴊⴋⴌⴍⴎⴏⴐⴑⴒⴓⴔⴕⴖⴗⴘⴙⴚⴛⴜⴝⴞⴟⴠⴡⴢⴣⴤⴥⴧⴭḁḃḅḇḉḋḍḏḑḓḕḗḙḛḝḟḡḣḥḧḩḫḭḯḱḳḵḷḹḻḽḿṁṃṅṇṉṋṍṏṑṓṕṗṙṛṝṟṡṣṥṧṩṫṭṯṱṳṵṷṹṻṽṿẁẃẅẇẉẋẍẏẑẓẕßạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹỻỽỿ'),
                '&(amp|lt|gt);', ' ', 'g'),
            '[\x01-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f\u0080-\u00bf\u00d7\u00f7\u2000-\u206f\u2190-\u23ff\u2500-\u25ff\u2e00-\u2e7f\u3000-\u303f\ufe00-\ufe1f\ufe30-\ufe6f\ufeff\uff00-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65\ufff0-\uffff]+', ' ', 'g'),
        '([\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u2600-\u27bf\u2e80-\u2fff\u3040-\u31ff\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7af\uf900-\ufaff\U0001f000-\U0001faff\U00020000-\U0003134f])', ' \1 ', 'g')
  ELSE regexp_replace(regexp_replace(lower(body), '&(amp|lt|gt);', ' ', 'g'), '[^a-z0-9]+', ' ', 'g')
END;

CREATE FUNCTION cellchat_search_vector(workspace_id text, subtype text, body text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN subtype IS NULL
            THEN to_tsvector('simple'::regconfig, cellchat_search_text(body))
                 || array_to_tsvector(ARRAY[workspace_id]) END;

CREATE FUNCTION cellchat_search_index() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_vector := cellchat_search_vector(NEW.workspace_id, NEW.subtype, NEW.text);
    RETURN NEW;
END
$$;

ALTER TABLE messages DROP COLUMN search_vector;  -- and with it the index messages_search
ALTER TABLE messages ADD COLUMN search_vector tsvector;
-- Existing rows, frozen or moved workspaces' included: the write guard would refuse them.
ALTER TABLE messages DISABLE TRIGGER guard_write;
UPDATE messages SET search_vector = cellchat_search_vector(workspace_id, subtype, text);
ALTER TABLE messages ENABLE TRIGGER guard_write;

CREATE TRIGGER search_index BEFORE INSERT OR UPDATE OF text, subtype, search_vector ON messages
    FOR EACH ROW EXECUTE FUNCTION cellchat_search_index();
CREATE INDEX messages_search ON messages USING gin (search_vector);

-- Files are found by the words of their name and title (search.files), the same way.
CREATE INDEX files_search ON files USING gin (cellchat_search_vector(workspace_id, NULL::text, name || ' ' || title));
